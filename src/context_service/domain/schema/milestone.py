"""Event (a milestone): something that happened to a story, with who did it and when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.domain.model import Milestone
from context_service.domain.schema.fields import ChangeRejected, decode, integer, put, text
from context_service.domain.schema.labels import Fields, Label, NodeKind
from context_service.domain.timefmt import ms_from_iso

LABEL = Label(NodeKind.MILESTONE, story_edge="HAS_MILESTONE")
DEFAULT_TYPE = "milestone"


def on_create(story_id: str, at_ms: int) -> Fields:
    """A new milestone's defaults."""
    return {
        "story_id": story_id,
        "event_type": DEFAULT_TYPE,
        "description": "",
        "actor": "",
        "ts_ms": at_ms,
        "status": "",
    }


def from_payload(payload: Mapping[str, Any]) -> Fields:
    """What a change sets on the milestone; an ISO `timestamp` stands in for `ts_ms`."""
    fields: Fields = {}
    put(fields, "event_type", text(payload, "event_type", "type"))
    put(fields, "description", text(payload, "description"))
    put(fields, "actor", text(payload, "actor"))
    ts_ms = integer(payload, "ts_ms")
    stamp = text(payload, "timestamp")
    if ts_ms is None and stamp:
        ts_ms = ms_from_iso(stamp)
        if ts_ms is None:
            raise ChangeRejected("timestamp must be ISO-8601")
    put(fields, "ts_ms", ts_ms)
    return fields


def read(p: Mapping[str, Any]) -> Milestone:
    """The milestone from its stored properties."""
    return decode(Milestone, p, renamed={"milestone_id": "id"})
