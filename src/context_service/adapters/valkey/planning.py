"""Planning read-models on Valkey, under the key formats shared with the rest of the fleet (03 §3.3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from redis.typing import EncodableT, FieldT

from context_service.adapters.planning_format import (
    READ_MODEL_PREFIX,
    draft_key,
    event_fields,
    handoff_key,
    is_handoff_key,
    json_object,
    milestone,
    spec_key,
    stream_key,
    summary_key,
)
from context_service.adapters.valkey.client import Command, ValkeyClient
from context_service.adapters.valkey.lua import LuaScript
from context_service.adapters.valkey.read_models import export_read_models, replace_read_models
from context_service.adapters.valkey.tracking import KeyTracking
from context_service.domain.model import Milestone, PlanningReadModel
from context_service.domain.snapshot import ReadModelEntry

log = structlog.get_logger()

# KEYS[1]: the key; ARGV: "1" when it was absent, the value read, the new value. 1 = written, 0 = changed.
_SWAP = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
return 1
"""


class ValkeyPlanningStore:
    """PlanningReader, SpecWriter and HandoffWriter, plus the seeding helpers of the in-memory store.

    `load` reads the newest `max_stream_events` stream entries (the longest timeline a call may ask for).
    """

    def __init__(self, *, client: ValkeyClient, max_stream_events: int = 1000) -> None:
        self._client = client
        self._max_events = max_stream_events
        self._swap = LuaScript(_SWAP)

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """Spec, draft, stream and summaries (story and per role): one round trip (per node on a cluster)."""
        wanted = [r for r in dict.fromkeys(roles) if r]
        keys = [spec_key(story_id), draft_key(story_id), summary_key(story_id)]
        keys += [summary_key(story_id, role) for role in wanted]
        stream = Command(
            stream_key(story_id), ("XREVRANGE", stream_key(story_id), "+", "-", "COUNT", self._max_events)
        )
        found, [entries] = await self._client.read("planning.load", keys, [stream])
        values = [found.get(k) for k in keys]
        spec, draft, summary, *role_summaries = values
        return PlanningReadModel(
            spec=json_object(spec, keys[0]),
            draft_plan=json_object(draft, keys[1]),
            timeline=tuple(milestone(entry_id, fields) for entry_id, fields in reversed(entries or [])),
            story_summary=summary or "",
            role_summaries={r: s for r, s in zip(wanted, role_summaries, strict=True) if s},
        )

    def change_tracking(self) -> KeyTracking | None:
        """Pushed notice of changes to the read-models `load` reads (None on a cluster)."""
        return self._client.tracking([READ_MODEL_PREFIX], ignore=is_handoff_key)

    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None:
        """Merge top-level fields into the spec JSON (created when absent); a lost race reads and merges
        again, so no field is lost (a compare-and-swap script: one key, valid on a cluster too)."""
        key = spec_key(story_id)
        while True:
            async with self._client.call("planning.merge_spec") as redis:
                raw = await redis.get(key)
            merged = json.dumps({**(json_object(raw, key) or {}), **spec})
            args = ["1" if raw is None else "0", raw or "", merged]
            [written] = await self._client.batch(
                "planning.merge_spec", [self._swap.command([key], args)], durable=True
            )
            if written:
                return

    async def save_handoff(
        self, story_id: str, generated_at_ms: int, bundle: Mapping[str, Any], ttl_seconds: int
    ) -> None:
        """Store the bundle under its timestamp key and as `latest`, both expiring after the TTL.

        One pipeline, not a transaction: the two shared-format keys may live on different cluster nodes,
        and a retry after a partial failure writes the same document again.
        """
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        document = json.dumps(dict(bundle))
        writes = [
            Command(key, ("SET", key, document, "EX", ttl_seconds))
            for key in (handoff_key(story_id, str(generated_at_ms)), handoff_key(story_id, "latest"))
        ]
        await self._client.batch("planning.save_handoff", writes)

    async def handoff(self, key: str) -> dict[str, Any] | None:
        """A persisted bundle by its full key, unless expired."""
        async with self._client.call("planning.handoff") as redis:
            return json_object(await redis.get(key), key)

    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None:
        """Seed a draft plan (as the planning service would)."""
        async with self._client.call("planning.put_draft") as redis:
            await redis.set(draft_key(story_id), json.dumps(dict(draft)))

    async def append_planning_event(self, story_id: str, event: Milestone) -> None:
        """Seed a planning stream event (as the planning service would)."""
        fields: dict[FieldT, EncodableT] = dict(event_fields(event))
        async with self._client.call("planning.append_event") as redis:
            await redis.xadd(stream_key(story_id), fields)

    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None:
        """Seed the last session summary, for the story or one role."""
        async with self._client.call("planning.put_summary") as redis:
            await redis.set(summary_key(story_id, role), summary)

    async def export_read_models(self, story_id: str) -> tuple[ReadModelEntry, ...]:
        """Every unexpired `swe:case:{id}:*` key with its value and absolute expiry."""
        return await export_read_models(self._client, story_id)

    async def replace_read_models(self, story_id: str, entries: tuple[ReadModelEntry, ...]) -> None:
        """The story's keys swapped for `entries` in one batch (one MULTI/EXEC on a single node)."""
        await replace_read_models(self._client, story_id, entries)
