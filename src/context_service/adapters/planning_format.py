"""The planning read-models' key formats and value encodings shared with the fleet (03 §3.3).

Both planning stores (Valkey, and the in-memory one that mimics it) read and write through these, so a
story's keys hold the same bytes whichever store holds them. Other services write these keys too, so a
value this service cannot read (not a JSON object) is logged and treated as absent rather than failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog

from context_service.domain.model import Milestone

log = structlog.get_logger()


READ_MODEL_PREFIX = "swe:case:"  # every planning read-model key (and the handoff bundles) starts so


def is_handoff_key(key: str) -> bool:
    """A persisted handoff bundle (written by RehydrateSession, read by nothing that is cached)."""
    return key.startswith(READ_MODEL_PREFIX) and ":handoff:" in key


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


def json_object(raw: str | bytes | None, key: str) -> dict[str, Any] | None:
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


def milestone(entry_id: str, fields: Mapping[str, str] | None) -> Milestone:
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


def event_fields(event: Milestone) -> list[tuple[str, str]]:
    """A timeline event as the planning service writes it to the stream: event, actor, ts, payload."""
    payload = {"description": event.description}
    payload |= {k: v for k, v in (("milestone_id", event.milestone_id), ("status", event.status)) if v}
    return [
        ("event", event.event_type),
        ("actor", event.actor),
        ("ts", str(event.ts_ms)),
        ("payload", json.dumps(payload)),
    ]
