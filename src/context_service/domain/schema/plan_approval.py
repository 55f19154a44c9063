"""PlanApproval: who approved a plan version and when; one per plan, pointing at it."""

from __future__ import annotations

from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind
from context_service.domain.timefmt import iso_from_ms

LABEL = Label(NodeKind.PLAN_APPROVAL, story_edge="HAS_APPROVAL")


def node_id(plan_id: str) -> str:
    """The approval of a plan (one per plan: a later approval overwrites it)."""
    return f"PA-{plan_id}"


def fields(story_id: str, plan_id: str, approved_by: str, comment: str, at_ms: int) -> Fields:
    """The approval's properties."""
    return {
        "story_id": story_id,
        "plan_id": plan_id,
        "approved_by": approved_by.strip(),
        "comment": comment.strip(),
        "approved_at": iso_from_ms(at_ms),
        "ts_ms": at_ms,
    }


def links(plan_id: str) -> tuple[Link, ...]:
    """(PlanApproval)-[:APPROVES]->(PlanVersion)."""
    return (Link(LinkKind.APPROVES, NodeKind.PLAN, plan_id),)
