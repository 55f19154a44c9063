"""Inputs of the inbound fleet events (planning and orchestration subjects), already decoded from JSON."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.domain.errors import NotFound


class NotYetKnown(NotFound):
    """An event names a project, epic, story, plan or task this service has not recorded yet.

    Each subject has its own consumer, so a child's event may be handled before its parent's: retry later.
    """


@dataclass(frozen=True)
class EventMeta:
    """What every inbound event carries beside its payload (from the envelope)."""

    idempotency_key: str
    correlation_id: str
    occurred_at_ms: int


@dataclass(frozen=True)
class ProjectCreated:
    """planning.project.created."""

    project_id: str
    name: str
    description: str
    status: str
    owner: str
    created_at_ms: int


@dataclass(frozen=True)
class EpicCreated:
    """planning.epic.created."""

    epic_id: str
    project_id: str
    title: str
    description: str = ""
    status: str = ""
    created_at_ms: int = 0


@dataclass(frozen=True)
class StoryCreated:
    """planning.story.created."""

    story_id: str
    epic_id: str
    title: str
    description: str = ""
    created_by: str = ""
    initial_phase: str = ""


@dataclass(frozen=True)
class TaskCreated:
    """planning.task.created; without `story_id` the task joins its plan's story."""

    task_id: str
    plan_id: str
    title: str
    task_type: str
    status: str
    story_id: str = ""
    role: str = ""
    description: str = ""
    priority: int | None = None
    estimated_hours: int | None = None


@dataclass(frozen=True)
class StoryTransitioned:
    """planning.story.transitioned; without `from_phase` the story's current phase is recorded."""

    story_id: str
    to_phase: str
    from_phase: str = ""
    rationale: str = ""


@dataclass(frozen=True)
class PlanApproved:
    """planning.plan.approved; without `story_id` the plan must already be known."""

    plan_id: str
    story_id: str = ""
    approved_by: str = ""
    comment: str = ""


@dataclass(frozen=True)
class DeliberatedDecision:
    """One decision of a deliberation; without an id it becomes DEC-{task_id}-{index}."""

    decision_id: str = ""
    decision_type: str = ""
    title: str = ""
    rationale: str = ""
    affected_task_id: str = ""
    decided_by: str = ""


@dataclass(frozen=True)
class DeliberationCompleted:
    """orchestration.deliberation.completed; without `story_id` the deliberated task's story is used."""

    task_id: str
    decisions: tuple[DeliberatedDecision, ...]
    story_id: str = ""
    role: str = ""


@dataclass(frozen=True)
class TaskDispatched:
    """orchestration.task.dispatched."""

    task_id: str
    story_id: str = ""
    agent_id: str = ""
    role: str = ""
