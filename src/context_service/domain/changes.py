"""UpdateContext changes: validate each change against the story and turn it into a graph mutation.

Which fields a change may set, and the defaults of a new node, come from the label's `domain.schema` module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from context_service.domain.history import KINDS
from context_service.domain.limits import MAX_ID_LENGTH
from context_service.domain.model import StoryGraph
from context_service.domain.mutations import DECISION_RELATIONS, Link, LinkKind, Mutation, NodeKind
from context_service.domain.schema import decision, milestone, plan, story, task
from context_service.domain.schema.fields import ChangeRejected
from context_service.domain.vocabulary import DELETED

__all__ = ["ChangeRejected", "EntityType", "Operation", "PlannedChange", "RawChange", "plan_change"]


class Operation(StrEnum):
    """What a change does to its entity."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class EntityType(StrEnum):
    """The entity kinds UpdateContext can change."""

    DECISION = "DECISION"
    SUBTASK = "SUBTASK"
    MILESTONE = "MILESTONE"
    CASE = "CASE"
    PLAN = "PLAN"


ENTITY_ALIASES = {"TASK": EntityType.SUBTASK, "STORY": EntityType.CASE}
# The label each entity type writes: the one its history records name (`history.ENTITY_TYPES`).
NODE_OF = {entity: KINDS[entity.value] for entity in EntityType}


@dataclass(frozen=True)
class RawChange:
    """A change as the caller sent it."""

    operation: str
    entity_type: str
    entity_id: str
    payload: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PlannedChange:
    """A validated change: its normalised identity and the mutation that applies it."""

    operation: Operation
    entity_type: EntityType
    entity_id: str
    reason: str
    mutation: Mutation


@dataclass
class ChangePlanner:
    """Tracks which entities exist as a batch of changes is validated in order."""

    graph: StoryGraph
    now_ms: int
    now_iso: str
    normalise_role: Callable[[str], str | None]
    foreign: Mapping[tuple[NodeKind, str], str] = field(default_factory=dict)
    live: dict[NodeKind, set[str]] = field(init=False)

    def __post_init__(self) -> None:
        """Index the live entities of the story."""
        g = self.graph
        self.live = {
            NodeKind.TASK: {t.task_id for t in g.tasks},
            NodeKind.DECISION: {d.decision_id for d in g.decisions},
            NodeKind.MILESTONE: {m.milestone_id for m in g.milestones},
            NodeKind.PLAN: {p.plan_id for p in g.plans},
            NodeKind.STORY: {g.story.story_id},
        }


def plan_change(planner: ChangePlanner, raw: RawChange) -> PlannedChange:
    """Validate one change; raise ChangeRejected with the reason it cannot be applied."""
    operation = _operation(raw.operation)
    entity_type = _entity_type(raw.entity_type)
    entity_id = raw.entity_id.strip()
    if not entity_id:
        raise ChangeRejected("entity_id is required")
    if len(entity_id) > MAX_ID_LENGTH:
        raise ChangeRejected(f"entity_id exceeds {MAX_ID_LENGTH} characters")
    kind = NODE_OF[entity_type]
    owner = planner.foreign.get((kind, entity_id))
    if owner is not None:
        raise ChangeRejected(f"{entity_type.value.lower()} '{entity_id}' belongs to story '{owner}'")
    payload = _payload(raw.payload)
    exists = entity_id in planner.live[kind]
    if operation is not Operation.CREATE and not exists:
        raise ChangeRejected(f"{entity_type.value.lower()} '{entity_id}' not found")
    if operation is Operation.DELETE:
        mutation = _delete(planner, kind, entity_id)
    else:
        mutation = _BUILDERS[entity_type](planner, entity_id, payload, exists)
        if not exists:  # new, or soft-deleted: SET the create-time defaults too, so it comes back live
            mutation = replace(mutation, fields={**mutation.on_create, **mutation.fields})
        planner.live[kind].add(entity_id)
    return PlannedChange(operation, entity_type, entity_id, raw.reason.strip(), mutation)


def entity_kind(raw_entity_type: str) -> NodeKind | None:
    """The graph label a change's entity type writes, or None for an unknown type."""
    try:
        return NODE_OF[_entity_type(raw_entity_type)]
    except ChangeRejected:
        return None


def _operation(raw: str) -> Operation:
    try:
        return Operation(raw.strip().upper())
    except ValueError:
        raise ChangeRejected(f"unknown operation '{raw.strip()}' (CREATE, UPDATE, DELETE)") from None


def _entity_type(raw: str) -> EntityType:
    key = raw.strip().upper()
    if key in ENTITY_ALIASES:
        return ENTITY_ALIASES[key]
    try:
        return EntityType(key)
    except ValueError:
        known = ", ".join(e.value for e in EntityType)
        raise ChangeRejected(f"unknown entity_type '{raw.strip()}' ({known})") from None


def _payload(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ChangeRejected("payload is not valid JSON") from None
    except RecursionError:  # a pathologically deep document must not escape as a crash
        raise ChangeRejected("payload is nested too deeply") from None
    if not isinstance(parsed, dict):
        raise ChangeRejected("payload must be a JSON object")
    return parsed


def _delete(planner: ChangePlanner, kind: NodeKind, entity_id: str) -> Mutation:
    if kind is NodeKind.STORY:
        raise ChangeRejected("the case itself cannot be deleted")
    planner.live[kind].discard(entity_id)
    return Mutation(kind=kind, node_id=entity_id, fields={"status": DELETED, "updated_at": planner.now_iso})


def _decision(planner: ChangePlanner, entity_id: str, payload: dict[str, Any], exists: bool) -> Mutation:
    fields = decision.from_payload(payload, exists)
    on_create = decision.on_create(planner.graph.story.story_id, planner.now_ms)
    tasks = [_known(planner, NodeKind.TASK, t) for t in _ids(payload, "task_ids")]
    links = list(decision.influenced_by(tasks))
    for kind in sorted(DECISION_RELATIONS):
        links += [_link(planner, kind, NodeKind.DECISION, d) for d in _ids(payload, kind.value.lower())]
    relations = payload.get("relations") or []
    if not isinstance(relations, list):
        raise ChangeRejected("relations must be a list of objects with 'to' and 'type'")
    links += [_relation(planner, relation) for relation in relations]
    return Mutation(NodeKind.DECISION, entity_id, fields, on_create, tuple(links))


def _task(planner: ChangePlanner, entity_id: str, payload: dict[str, Any], exists: bool) -> Mutation:
    fields = task.from_payload(payload, exists, planner.normalise_role, planner.now_iso)
    on_create = task.on_create(planner.graph.story.story_id, planner.now_iso)
    plan_id = payload.get("plan_id")
    if plan_id and str(plan_id).strip() not in planner.live[NodeKind.PLAN]:
        raise ChangeRejected(f"plan '{str(plan_id).strip()}' of this story not found")
    deps = _ids(payload, "dependencies") if "dependencies" in payload else _ids(payload, "depends_on")
    if entity_id in deps:
        raise ChangeRejected("a task cannot depend on itself")
    links = task.dependency_links(_known(planner, NodeKind.TASK, d) for d in deps)
    replace = (LinkKind.DEPENDS_ON,) if ("dependencies" in payload or "depends_on" in payload) else ()
    return Mutation(NodeKind.TASK, entity_id, fields, on_create, links, replace, task.origin(payload))


def _milestone(planner: ChangePlanner, entity_id: str, payload: dict[str, Any], exists: bool) -> Mutation:
    on_create = milestone.on_create(planner.graph.story.story_id, planner.now_ms)
    return Mutation(NodeKind.MILESTONE, entity_id, milestone.from_payload(payload), on_create)


def _case(planner: ChangePlanner, entity_id: str, payload: dict[str, Any], exists: bool) -> Mutation:
    if entity_id != planner.graph.story.story_id:
        raise ChangeRejected("CASE changes must name the story itself as entity_id")
    return Mutation(NodeKind.STORY, entity_id, story.from_payload(payload, planner.now_iso))


def _plan(planner: ChangePlanner, entity_id: str, payload: dict[str, Any], exists: bool) -> Mutation:
    on_create = plan.on_create(planner.graph.story.story_id, planner.now_ms)
    return Mutation(NodeKind.PLAN, entity_id, plan.from_payload(payload), on_create)


def _ids(payload: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = payload.get(key)
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(dict.fromkeys(x.strip() for x in raw if x.strip()))
    raise ChangeRejected(f"{key} must be a list of ids or a comma-separated string")


def _known(planner: ChangePlanner, target: NodeKind, target_id: str) -> str:
    if target_id not in planner.live[target]:
        raise ChangeRejected(f"{target.value.lower()} '{target_id}' of this story not found")
    return target_id


def _link(planner: ChangePlanner, kind: LinkKind, target: NodeKind, target_id: str) -> Link:
    return Link(kind=kind, target_kind=target, target_id=_known(planner, target, target_id))


def _relation(planner: ChangePlanner, relation: Any) -> Link:
    if not isinstance(relation, dict):
        raise ChangeRejected("relations must be objects with 'to' and 'type'")
    rel_type = str(relation.get("type", "")).strip().upper()
    if rel_type not in {k.value for k in DECISION_RELATIONS}:
        raise ChangeRejected(f"unknown decision relation '{rel_type}'")
    return _link(planner, LinkKind(rel_type), NodeKind.DECISION, str(relation.get("to", "")).strip())


_BUILDERS: dict[EntityType, Callable[[ChangePlanner, str, dict[str, Any], bool], Mutation]] = {
    EntityType.DECISION: _decision,
    EntityType.SUBTASK: _task,
    EntityType.MILESTONE: _milestone,
    EntityType.CASE: _case,
    EntityType.PLAN: _plan,
}
