"""In-memory planning read-models, held as the Valkey keys would be (same key names, same encoded values).

Holding raw keys keeps every read identical to the Valkey store's and lets a snapshot move a story's
read-models between the two byte for byte.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from context_service.adapters.planning_format import (
    draft_key,
    event_fields,
    handoff_key,
    json_object,
    milestone,
    spec_key,
    stream_key,
    summary_key,
)
from context_service.domain.model import Milestone, PlanningReadModel
from context_service.domain.snapshot import ReadModelEntry, StreamEntry, read_model_prefix


class InMemoryPlanningStore:
    """Holds the read-models other fleet services would keep in Valkey; `clock` gives epoch seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_stream_events: int = 1000) -> None:
        self._strings: dict[str, tuple[str, int]] = {}  # key -> (value, absolute expiry in ms, 0 = none)
        self._streams: dict[str, list[StreamEntry]] = {}
        self._stream_expiry: dict[str, int] = {}  # only imported streams expire
        self._clock = clock
        self._max_events = max_stream_events

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _get(self, key: str) -> str | None:
        found = self._strings.get(key)
        if found is None or (found[1] and found[1] <= self._now_ms()):
            return None
        return found[0]

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """Spec, draft, the newest stream entries and summaries (story and the roles asked)."""
        wanted = [r for r in dict.fromkeys(roles) if r]
        entries = self._stream(stream_key(story_id))[-self._max_events :]
        return PlanningReadModel(
            spec=json_object(self._get(spec_key(story_id)), spec_key(story_id)),
            draft_plan=json_object(self._get(draft_key(story_id)), draft_key(story_id)),
            timeline=tuple(milestone(e.entry_id, dict(e.fields)) for e in entries),
            story_summary=self._get(summary_key(story_id)) or "",
            role_summaries={r: s for r in wanted if (s := self._get(summary_key(story_id, r)))},
        )

    def _stream(self, key: str) -> list[StreamEntry]:
        expiry = self._stream_expiry.get(key, 0)
        return [] if expiry and expiry <= self._now_ms() else self._streams.get(key, [])

    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None:
        """Merge top-level fields into the spec JSON (created when absent), keeping its expiry."""
        key = spec_key(story_id)
        current = json_object(self._get(key), key) or {}
        expiry = self._strings.get(key, ("", 0))[1]
        self._strings[key] = (json.dumps({**current, **dict(spec)}), expiry)

    async def save_handoff(
        self, story_id: str, generated_at_ms: int, bundle: Mapping[str, Any], ttl_seconds: int
    ) -> None:
        """Store the bundle under its timestamp and as `latest`, both expiring after the TTL."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        expires = self._now_ms() + ttl_seconds * 1000
        for suffix in (str(generated_at_ms), "latest"):
            self._strings[handoff_key(story_id, suffix)] = (json.dumps(dict(bundle)), expires)

    async def handoff(self, key: str) -> dict[str, Any] | None:
        """A persisted bundle by its full key, unless expired."""
        return json_object(self._get(key), key)

    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None:
        """Seed a draft plan (as the planning service would)."""
        self._strings[draft_key(story_id)] = (json.dumps(dict(draft)), 0)

    async def append_planning_event(self, story_id: str, event: Milestone) -> None:
        """Seed a planning stream event under the next stream id, as XADD * would."""
        stream = self._streams.setdefault(stream_key(story_id), [])
        last_ms, _, last_seq = stream[-1].entry_id.partition("-") if stream else ("0", "", "0")
        now_ms = max(self._now_ms(), int(last_ms))
        seq = int(last_seq) + 1 if now_ms == int(last_ms) else 0
        stream.append(StreamEntry(f"{now_ms}-{seq}", tuple(event_fields(event))))

    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None:
        """Seed the last session summary, for the story or one role."""
        self._strings[summary_key(story_id, role)] = (summary, 0)

    async def export_read_models(self, story_id: str) -> tuple[ReadModelEntry, ...]:
        """Every unexpired key of the story, sorted by key."""
        prefix = read_model_prefix(story_id)
        found = [
            ReadModelEntry(key, "string", value=value, expire_at_ms=expiry)
            for key, (value, expiry) in self._strings.items()
            if key.startswith(prefix) and self._get(key) is not None
        ]
        found += [
            ReadModelEntry(
                key, "stream", entries=tuple(entries), expire_at_ms=self._stream_expiry.get(key, 0)
            )
            for key in self._streams
            if key.startswith(prefix) and (entries := self._stream(key))
        ]
        return tuple(sorted(found, key=lambda e: e.key))

    async def replace_read_models(self, story_id: str, entries: tuple[ReadModelEntry, ...]) -> None:
        """Drop the story's keys and hold `entries` instead (already-expired ones left out)."""
        prefix = read_model_prefix(story_id)
        for store in (self._strings, self._streams, self._stream_expiry):
            for key in [k for k in store if k.startswith(prefix)]:
                del store[key]
        now_ms = self._now_ms()
        for entry in entries:
            if entry.expire_at_ms and entry.expire_at_ms <= now_ms:
                continue
            if entry.kind == "string":
                self._strings[entry.key] = (entry.value, entry.expire_at_ms)
            elif entry.entries:
                self._streams[entry.key] = list(entry.entries)
                if entry.expire_at_ms:
                    self._stream_expiry[entry.key] = entry.expire_at_ms
