"""PhaseTransition: one move of a story from a phase to another, with its rationale."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.domain.model import PhaseTransition
from context_service.domain.schema.fields import decode
from context_service.domain.schema.labels import Fields, Label, NodeKind
from context_service.domain.timefmt import iso_from_ms

LABEL = Label(NodeKind.TRANSITION, story_edge="HAS_PHASE")


def new_id(story_id: str, at_ms: int, ref: str) -> str:
    """PT-{story}-{epoch ms}-{ref}: a transition's id (the ref tells apart two at the same millisecond)."""
    return f"PT-{story_id}-{at_ms}-{ref}"


def on_create(story_id: str, phases: tuple[str, str], rationale: str, at_ms: int) -> Fields:
    """The transition's properties (written once, never updated)."""
    source, target = phases
    return {
        "story_id": story_id,
        "from_phase": source,
        "to_phase": target,
        "rationale": rationale,
        "transitioned_at": iso_from_ms(at_ms),
        "ts_ms": at_ms,
    }


def read(p: Mapping[str, Any]) -> PhaseTransition:
    """The transition from its stored properties."""
    return decode(PhaseTransition, p, renamed={"transition_id": "id"})
