"""PlanVersion: a version of a story's plan; the tasks planning created hang off it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.domain.model import PlanVersion
from context_service.domain.schema.fields import decode, integer, put, text
from context_service.domain.schema.labels import Fields, Label, NodeKind

LABEL = Label(NodeKind.PLAN, story_edge="HAS_PLAN", typed_id="plan_id")
DEFAULT_STATUS, APPROVED = "DRAFT", "APPROVED"


def on_create(story_id: str, at_ms: int) -> Fields:
    """A new plan version's defaults."""
    return {
        "story_id": story_id,
        "version": 1,
        "status": DEFAULT_STATUS,
        "rationale": "",
        "author_id": "",
        "created_at_ms": at_ms,
    }


def from_payload(payload: Mapping[str, Any]) -> Fields:
    """What a change sets on the plan version."""
    fields: Fields = {}
    put(fields, "version", integer(payload, "version"))
    put(fields, "status", text(payload, "status", upper=True))
    put(fields, "rationale", text(payload, "rationale"))
    put(fields, "author_id", text(payload, "author_id", "author"))
    return fields


def read(p: Mapping[str, Any]) -> PlanVersion:
    """The plan version from its stored properties."""
    return decode(PlanVersion, p, renamed={"plan_id": "id"}, defaults={"status": DEFAULT_STATUS})
