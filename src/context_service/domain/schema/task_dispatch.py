"""TaskDispatch: one handing of a task to an agent, pointing at the task."""

from __future__ import annotations

from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind
from context_service.domain.timefmt import iso_from_ms

LABEL = Label(NodeKind.TASK_DISPATCH, story_edge="HAS_DISPATCH")


def node_id(task_id: str, ref: str) -> str:
    """One dispatch of a task (`ref`: unique per dispatch, stable across redeliveries)."""
    return f"TD-{task_id}-{ref}"


def on_create(story_id: str, task_id: str, agent_id: str, role: str, at_ms: int) -> Fields:
    """The dispatch's properties (written once)."""
    return {
        "story_id": story_id,
        "task_id": task_id,
        "agent_id": agent_id.strip(),
        "role": role,
        "dispatched_at": iso_from_ms(at_ms),
        "ts_ms": at_ms,
    }


def links(task_id: str) -> tuple[Link, ...]:
    """(TaskDispatch)-[:DISPATCHES]->(Task)."""
    return (Link(LinkKind.DISPATCHES, NodeKind.TASK, task_id),)
