"""Payload decoding: each inbound subject's JSON object into use-case inputs (04 §4.3).

Required fields are exactly those the fleet's producers always send (a missing one is permanent); every other
field takes its legacy default, so an older producer's smaller payload is applied, never dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from context_service.adapters.nats.envelope import MessageRejected
from context_service.application.approve_plan import PlanApproved
from context_service.application.create_story import StoryRequest
from context_service.application.dispatch_task import TaskDispatched
from context_service.application.record_deliberation import DeliberatedDecision, DeliberationCompleted
from context_service.application.record_epic import EpicCreated
from context_service.application.record_planned_task import TaskCreated
from context_service.application.record_project import ProjectCreated
from context_service.application.rehydrate_session import RehydrateRequest
from context_service.application.transition_phase import TransitionRequest
from context_service.application.update_context import UpdateRequest
from context_service.domain.changes import RawChange

Payload = Mapping[str, Any]


def text(payload: Payload, *names: str, required: bool = False) -> str:
    """The first of `names` present, as a string; "" when absent (MessageRejected when required)."""
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise MessageRejected(f"payload field '{name}' must be a string")
        return str(value)
    if required:
        raise MessageRejected(f"payload field '{names[0]}' is required")
    return ""


def integer(payload: Payload, name: str, *, required: bool = False) -> int | None:
    """An integer field; None when absent."""
    value = payload.get(name)
    if value is None:
        if required:
            raise MessageRejected(f"payload field '{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageRejected(f"payload field '{name}' must be an integer")
    return value


def flag(payload: Payload, name: str) -> bool:
    """A boolean field; False when absent."""
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise MessageRejected(f"payload field '{name}' must be true or false")
    return value


def objects(payload: Payload, name: str, *, required: bool = False) -> list[Payload]:
    """A list of JSON objects."""
    value = payload.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MessageRejected(f"payload field '{name}' must be a list of objects")
    return value


def strings(payload: Payload, name: str) -> tuple[str, ...]:
    """A list of strings."""
    value = payload.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MessageRejected(f"payload field '{name}' must be a list of strings")
    return tuple(value)


def project_created(p: Payload) -> ProjectCreated:
    """planning.project.created."""
    return ProjectCreated(
        project_id=text(p, "project_id", required=True),
        name=text(p, "name", required=True),
        description=text(p, "description"),
        status=text(p, "status") or "active",
        owner=text(p, "owner"),
        created_at_ms=integer(p, "created_at_ms") or 0,
    )


def epic_created(p: Payload) -> EpicCreated:
    """planning.epic.created."""
    return EpicCreated(
        epic_id=text(p, "epic_id", required=True),
        project_id=text(p, "project_id", required=True),
        title=text(p, "title", "name", required=True),
        description=text(p, "description"),
        status=text(p, "status") or "active",
        created_at_ms=integer(p, "created_at_ms") or 0,
    )


def story_created(p: Payload) -> StoryRequest:
    """planning.story.created."""
    return StoryRequest(
        story_id=text(p, "story_id", required=True),
        epic_id=text(p, "epic_id", required=True),
        title=text(p, "title", "name", required=True),
        description=text(p, "description"),
        created_by=text(p, "created_by"),
        initial_phase=text(p, "initial_phase", "current_phase", "phase"),
    )


def task_created(p: Payload) -> TaskCreated:
    """planning.task.created."""
    return TaskCreated(
        task_id=text(p, "task_id", required=True),
        plan_id=text(p, "plan_id", required=True),
        title=text(p, "title", required=True),
        task_type=text(p, "type") or "development",
        status=text(p, "status") or "todo",
        story_id=text(p, "story_id"),
        role=text(p, "role"),
        description=text(p, "description"),
        priority=integer(p, "priority"),
        estimated_hours=integer(p, "estimated_hours"),
    )


def story_transitioned(p: Payload) -> TransitionRequest:
    """planning.story.transitioned."""
    return TransitionRequest(
        story_id=text(p, "story_id", required=True),
        to_phase=text(p, "to_phase", required=True),
        from_phase=text(p, "from_phase"),
        rationale=text(p, "rationale", "reason"),
    )


def plan_approved(p: Payload) -> PlanApproved:
    """planning.plan.approved."""
    return PlanApproved(
        plan_id=text(p, "plan_id", required=True),
        story_id=text(p, "story_id"),
        approved_by=text(p, "approved_by"),
        comment=text(p, "comment", "rationale"),
    )


def deliberation_completed(p: Payload) -> DeliberationCompleted:
    """orchestration.deliberation.completed."""
    decisions = tuple(
        DeliberatedDecision(
            decision_id=text(d, "id", "decision_id"),
            decision_type=text(d, "type", "decision_type") or "TECHNICAL",
            title=text(d, "title"),
            rationale=text(d, "rationale"),
            affected_task_id=text(d, "affected_subtask", "affected_subtask_id", "subtask_id"),
            decided_by=text(d, "decided_by", "winner"),
        )
        for d in objects(p, "decisions", required=True)
    )
    return DeliberationCompleted(
        task_id=text(p, "task_id"),
        decisions=decisions,
        story_id=text(p, "story_id"),
        role=text(p, "role"),
    )


def task_dispatched(p: Payload) -> TaskDispatched:
    """orchestration.task.dispatched."""
    return TaskDispatched(
        task_id=text(p, "task_id", required=True),
        story_id=text(p, "story_id"),
        agent_id=text(p, "agent_id", "agent"),
        role=text(p, "role"),
    )


def update_request(p: Payload) -> UpdateRequest:
    """context.update.request (04 §4.4); a change payload may be an object or a JSON string."""
    changes = tuple(
        RawChange(
            operation=text(c, "operation"),
            entity_type=text(c, "entity_type"),
            entity_id=text(c, "entity_id"),
            payload=_change_payload(c.get("payload")),
            reason=text(c, "reason"),
        )
        for c in objects(p, "changes")
    )
    return UpdateRequest(
        story_id=text(p, "story_id", required=True),
        task_id=text(p, "task_id"),
        role=text(p, "role"),
        changes=changes,
        timestamp=text(p, "timestamp"),
    )


def rehydrate_request(p: Payload) -> RehydrateRequest:
    """context.rehydrate.request (04 §4.4); the use case applies the defaults (50 events, 3600 s)."""
    return RehydrateRequest(
        case_id=text(p, "case_id", required=True),
        roles=strings(p, "roles"),
        include_timeline=flag(p, "include_timeline"),
        include_summaries=flag(p, "include_summaries"),
        timeline_events=integer(p, "timeline_events") or 0,
        persist_bundle=flag(p, "persist_bundle"),
        ttl_seconds=integer(p, "ttl_seconds") or 0,
    )


def _change_payload(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    raise MessageRejected("payload field 'changes.payload' must be an object or a string")
