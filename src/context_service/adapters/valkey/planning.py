"""Planning read-models on Valkey, under the key formats shared with the rest of the fleet (03 §3.3).

Other services write these keys too, so a value this service cannot read (not a JSON object) is logged
and treated as absent rather than failing the read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from redis.typing import EncodableT, FieldT

from context_service.adapters.valkey.client import Command, ValkeyClient
from context_service.adapters.valkey.lua import LuaScript
from context_service.domain.model import Milestone, PlanningReadModel

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


def spec_key(story_id: str) -> str:
    """The story spec (JSON)."""
    return f"swe:case:{story_id}:spec"


def draft_key(story_id: str) -> str:
    """The draft plan (JSON)."""
    return f"swe:case:{story_id}:planning:draft"


def stream_key(story_id: str) -> str:
    """The planning event stream (fields event, actor, ts, payload)."""
    return f"swe:case:{story_id}:planning:stream"


def summary_key(story_id: str, role: str = "") -> str:
    """The last session summary of the story, or of one role."""
    return (
        f"swe:case:{story_id}:role:{role}:summaries:last" if role else f"swe:case:{story_id}:summaries:last"
    )


def handoff_key(story_id: str, suffix: str) -> str:
    """A persisted rehydration bundle: `suffix` is its generated_at_ms, or `latest`."""
    return f"swe:case:{story_id}:handoff:{suffix}"


def _json_object(raw: str | bytes | None, key: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.warning("planning_read_model_unreadable", key=key)
        return None
    return value


def _milestone(entry_id: str, fields: Mapping[str, str] | None) -> Milestone:
    """A stream entry as a timeline event: the payload's `description`, else the payload itself."""
    fields = fields or {}
    text = fields.get("payload", "")
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = text
    if not isinstance(payload, dict):
        payload = {"description": text}
    description = payload.get("description")
    if description is None:
        description = json.dumps(payload, sort_keys=True, separators=(",", ":")) if payload else ""
    ts = fields.get("ts", "")
    return Milestone(
        event_type=fields.get("event", ""),
        description=str(description),
        ts_ms=int(ts) if ts.isdigit() else int(entry_id.partition("-")[0]),  # stream ids start with a ms time
        actor=fields.get("actor", ""),
        milestone_id=str(payload.get("milestone_id", "")),
        status=str(payload.get("status", "")),
    )


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
            spec=_json_object(spec, keys[0]),
            draft_plan=_json_object(draft, keys[1]),
            timeline=tuple(_milestone(entry_id, fields) for entry_id, fields in reversed(entries or [])),
            story_summary=summary or "",
            role_summaries={r: s for r, s in zip(wanted, role_summaries, strict=True) if s},
        )

    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None:
        """Merge top-level fields into the spec JSON (created when absent); a lost race reads and merges
        again, so no field is lost (a compare-and-swap script: one key, valid on a cluster too)."""
        key = spec_key(story_id)
        while True:
            async with self._client.call("planning.merge_spec") as redis:
                raw = await redis.get(key)
            merged = json.dumps({**(_json_object(raw, key) or {}), **spec})
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
            return _json_object(await redis.get(key), key)

    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None:
        """Seed a draft plan (as the planning service would)."""
        async with self._client.call("planning.put_draft") as redis:
            await redis.set(draft_key(story_id), json.dumps(dict(draft)))

    async def append_planning_event(self, story_id: str, event: Milestone) -> None:
        """Seed a planning stream event (as the planning service would)."""
        payload = {"description": event.description}
        payload |= {k: v for k, v in (("milestone_id", event.milestone_id), ("status", event.status)) if v}
        fields: dict[FieldT, EncodableT] = {"event": event.event_type, "actor": event.actor}
        fields |= {"ts": str(event.ts_ms), "payload": json.dumps(payload)}
        async with self._client.call("planning.append_event") as redis:
            await redis.xadd(stream_key(story_id), fields)

    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None:
        """Seed the last session summary, for the story or one role."""
        async with self._client.call("planning.put_summary") as redis:
            await redis.set(summary_key(story_id, role), summary)
