"""Task: a story's unit of work for one role, its dependencies, and why it exists (the plan edge's origin)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from context_service.domain.model import Task, TaskOrigin
from context_service.domain.schema.fields import (
    ChangeRejected,
    decode,
    integer,
    prop,
    put,
    require_title,
    text,
)
from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind, Scalar

LABEL = Label(NodeKind.TASK, story_edge="HAS_TASK", typed_id="task_id")
DEFAULT_STATUS = "PENDING"
READ_AS = {"task_id": "id", "task_type": "type"}
READ_DEFAULTS = {"status": DEFAULT_STATUS}
ORIGIN_KEYS = ("decided_by", "decision_reason", "council_feedback", "decided_at", "source")
# Set by a planning event when it carries them; otherwise the stored (or create-default) values stay.
PLANNED_OPTIONAL = ("role", "description", "priority", "estimated_hours")


def on_create(story_id: str, now_iso: str) -> Fields:
    """A new task's defaults."""
    return {
        "story_id": story_id,
        "status": DEFAULT_STATUS,
        "created_at": now_iso,
        "description": "",
        "role": "",
        "priority": 0,
        "estimated_hours": 0,
        "plan_id": "",
        "type": "",
    }


def from_payload(
    payload: Mapping[str, Any], exists: bool, normalise_role: Callable[[str], str | None], now_iso: str
) -> Fields:
    """What a change (or CreateTask) sets on the task; the role must be known."""
    fields: Fields = {"updated_at": now_iso}
    put(fields, "title", text(payload, "title"))
    put(fields, "description", text(payload, "description"))
    raw_role = text(payload, "role")
    if raw_role:
        role = normalise_role(raw_role)
        if role is None:
            raise ChangeRejected(f"unknown role '{raw_role}'")
        fields["role"] = role
    put(fields, "status", text(payload, "status", upper=True))
    put(fields, "priority", integer(payload, "priority"))
    put(fields, "estimated_hours", integer(payload, "estimated_hours"))
    put(fields, "plan_id", text(payload, "plan_id"))
    put(fields, "type", text(payload, "type", upper=True))
    require_title(fields, exists)
    return fields


def planned(event: Mapping[str, Scalar | None], now_iso: str) -> Fields:
    """What a planning event sets: title, plan, type and status always, the optional fields when given."""
    fields: Fields = {
        "title": str(event["title"]).strip(),
        "plan_id": str(event["plan_id"]).strip(),
        "type": str(event["type"]).strip().upper(),
        "status": str(event["status"]).strip().upper() or DEFAULT_STATUS,
        "updated_at": now_iso,
    }
    for key in PLANNED_OPTIONAL:
        value = event.get(key)
        if value is not None and value != "":
            fields[key] = value
    return fields


def dispatched(now_iso: str) -> Fields:
    """The task handed to an agent."""
    return {"status": "IN_PROGRESS", "updated_at": now_iso}


def origin(payload: Mapping[str, Any]) -> Fields | None:
    """The 'why this task exists' metadata of a task, when the payload carries any."""
    found: Fields = {}
    for key in ORIGIN_KEYS:
        put(found, key, text(payload, key))
    return found or None


def dependency_links(dependencies: Iterable[str]) -> tuple[Link, ...]:
    """(Task)-[:DEPENDS_ON]->(Task) for each dependency."""
    return tuple(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, d) for d in dependencies)


def read_origin(edge_props: Mapping[str, Any]) -> TaskOrigin | None:
    """The origin kept on a HAS_TASK edge, None when it carries none."""
    if all(edge_props.get(k) is None for k in ORIGIN_KEYS):  # most edges: no origin at all
        return None
    found = TaskOrigin(**{k: prop(edge_props, k) for k in ORIGIN_KEYS})
    return None if found.is_empty() else found


def read(p: Mapping[str, Any], dependencies: tuple[str, ...], origin: TaskOrigin | None) -> Task:
    """The task from its stored properties, its live dependencies and its origin."""
    return decode(Task, p, renamed=READ_AS, defaults=READ_DEFAULTS, dependencies=dependencies, origin=origin)
