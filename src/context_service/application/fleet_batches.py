"""The graph mutations of the inbound fleet events, built from already validated values (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from context_service.application.fleet_inputs import DeliberatedDecision, TaskCreated
from context_service.domain.changes_fields import metadata_json
from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import MAX_CHANGES, limit_text, optional_id
from context_service.domain.model import ChangeRecord, Located
from context_service.domain.mutations import Link, LinkKind, Mutation, NodeKind, Scalar
from context_service.domain.timefmt import iso_from_ms

DELIBERATION_REASON = "deliberation completed"


def task_mutation(event: TaskCreated, task_id: str, story_id: str, role: str, now: str) -> Mutation:
    """Upsert a task with what the event says; it hangs off its plan when the plan is in the same story."""
    if (event.priority or 0) < 0 or (event.estimated_hours or 0) < 0:
        raise InvalidArgument("priority and estimated_hours must not be negative", field="priority")
    fields: dict[str, Scalar] = {
        "title": limit_text(event.title, "title").strip(),
        "plan_id": event.plan_id.strip(),
        "type": event.task_type.strip().upper(),
        "status": event.status.strip().upper() or "PENDING",
        "updated_at": now,
    }
    optional = {
        "role": role,
        "description": limit_text(event.description, "description").strip(),
        "priority": event.priority,
        "estimated_hours": event.estimated_hours,
    }
    fields.update({k: v for k, v in optional.items() if v is not None and v != ""})
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "created_at": now,
        "description": "",
        "role": "",
        "priority": 0,
        "estimated_hours": 0,
    }
    return Mutation(NodeKind.TASK, task_id, fields=fields, on_create=on_create, plan_edge={})


def transition_mutations(
    story_id: str, transition_id: str, phases: tuple[str, str], rationale: str, at_ms: int
) -> tuple[Mutation, Mutation]:
    """The PhaseTransition node and the story's new current phase."""
    source, target = phases
    now = iso_from_ms(at_ms)
    transition = Mutation(
        NodeKind.TRANSITION,
        transition_id,
        on_create={
            "story_id": story_id,
            "from_phase": source,
            "to_phase": target,
            "rationale": rationale,
            "transitioned_at": now,
            "ts_ms": at_ms,
        },
    )
    story = Mutation(NodeKind.STORY, story_id, fields={"current_phase": target, "updated_at": now})
    return transition, story


def plan_approval_mutations(
    story_id: str, plan_id: str, *, approved_by: str, comment: str, at_ms: int
) -> tuple[Mutation, Mutation]:
    """The plan (created when missing) set APPROVED, and the PlanApproval node pointing at it."""
    plan = Mutation(
        NodeKind.PLAN,
        plan_id,
        fields={"status": "APPROVED"},
        on_create={
            "story_id": story_id,
            "version": 1,
            "author_id": "",
            "rationale": "",
            "created_at_ms": at_ms,
        },
    )
    approval = Mutation(
        NodeKind.PLAN_APPROVAL,
        f"PA-{plan_id}",
        fields={
            "story_id": story_id,
            "plan_id": plan_id,
            "approved_by": approved_by,
            "comment": comment,
            "approved_at": iso_from_ms(at_ms),
            "ts_ms": at_ms,
        },
        links=(Link(LinkKind.APPROVES, NodeKind.PLAN, plan_id),),
    )
    return plan, approval


def dispatch_mutations(
    story_id: str, task_id: str, dispatch_id: str, *, agent_id: str, role: str, at_ms: int
) -> tuple[Mutation, Mutation]:
    """The task set IN_PROGRESS, and the TaskDispatch node pointing at it."""
    fields = {"status": "IN_PROGRESS", "updated_at": iso_from_ms(at_ms)}
    task = Mutation(NodeKind.TASK, task_id, fields=fields)
    dispatch = Mutation(
        NodeKind.TASK_DISPATCH,
        dispatch_id,
        on_create={
            "story_id": story_id,
            "task_id": task_id,
            "agent_id": agent_id,
            "role": role,
            "dispatched_at": iso_from_ms(at_ms),
            "ts_ms": at_ms,
        },
        links=(Link(LinkKind.DISPATCHES, NodeKind.TASK, task_id),),
    )
    return task, dispatch


@dataclass(frozen=True)
class PlannedDecisions:
    """The decision upserts of one deliberation, with what to check and record around them."""

    story_id: str
    task_id: str
    role: str
    now: str
    mutations: tuple[Mutation, ...]
    affected: tuple[str, ...]

    def decision_nodes(self) -> list[tuple[NodeKind, str]]:
        """The decisions, to learn which ones exist already."""
        return [(NodeKind.DECISION, m.node_id) for m in self.mutations]

    def affected_nodes(self) -> list[tuple[NodeKind, str]]:
        """The subtasks the decisions influence (each must be a live task of the story)."""
        return [(NodeKind.TASK, t) for t in dict.fromkeys(t for t in self.affected if t)]

    def history(self, found: Mapping[tuple[NodeKind, str], Located]) -> tuple[ChangeRecord, ...]:
        """One change record per decision: CREATE when new, UPDATE when it existed."""
        return tuple(
            ChangeRecord(
                version=0,
                role=self.role,
                task_id=self.task_id,
                operation="UPDATE" if (NodeKind.DECISION, m.node_id) in found else "CREATE",
                entity_type="DECISION",
                entity_id=m.node_id,
                reason=DELIBERATION_REASON,
                timestamp=self.now,
            )
            for m in self.mutations
        )


def decision_mutations(
    story_id: str, task_id: str, decisions: Sequence[DeliberatedDecision], role: str, at_ms: int
) -> PlannedDecisions:
    """Decision upserts: id given or DEC-{task or story id}-{index}; INFLUENCED_BY from the affected task."""
    if not decisions:
        raise InvalidArgument("decisions must not be empty", field="decisions")
    if len(decisions) > MAX_CHANGES:
        raise InvalidArgument(f"at most {MAX_CHANGES} decisions per deliberation", field="decisions")
    ids = [
        optional_id(d.decision_id, "decisions.id") or f"DEC-{task_id or story_id}-{index}"
        for index, d in enumerate(decisions)
    ]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("decision ids must be unique within a deliberation", field="decisions.id")
    now = iso_from_ms(at_ms)
    affected = tuple(optional_id(d.affected_task_id, "decisions.affected_subtask") for d in decisions)
    mutations = tuple(
        _decision(decision_id, d, affected_id, story_id=story_id, task_id=task_id, role=role, at_ms=at_ms)
        for decision_id, d, affected_id in zip(ids, decisions, affected, strict=True)
    )
    return PlannedDecisions(story_id, task_id, role, now, mutations, affected)


def _decision(
    decision_id: str,
    d: DeliberatedDecision,
    affected: str,
    *,
    story_id: str,
    task_id: str,
    role: str,
    at_ms: int,
) -> Mutation:
    fields: dict[str, Scalar] = {
        "title": limit_text(d.title, "decisions.title").strip() or f"Deliberation on {task_id or story_id}",
        "rationale": limit_text(d.rationale, "decisions.rationale").strip(),
        "decision_type": d.decision_type.strip().upper(),
        "status": "ACCEPTED",
        "decided_by": d.decided_by.strip() or role or "UNKNOWN",
    }
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "decided_at": iso_from_ms(at_ms),
        "created_at_ms": at_ms,
        "alternatives_considered": "",
        "metadata": metadata_json({"source": "deliberation", "task_id": task_id}),
    }
    links = (Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, affected, incoming=True),) if affected else ()
    return Mutation(NodeKind.DECISION, decision_id, fields=fields, on_create=on_create, links=links)
