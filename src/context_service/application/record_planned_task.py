"""RecordPlannedTask: upsert a task the planning service created (planning.task.created).

Unlike CreateTask (an agent asking for a new task, with a known role and checked dependencies), this records
what planning decided: its fields win on every delivery, any fleet role is kept, and the task hangs off its
plan when the plan is in the same story.
"""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, fleet_role, owner_story
from context_service.domain.limits import limit_text, require_id, require_non_negative
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.schema import task
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock


@dataclass(frozen=True)
class TaskCreated:
    """RecordPlannedTask input; without `story_id` the task joins its plan's story."""

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


class RecordPlannedTask:
    """MERGEs the task into its story (given, or its plan's)."""

    def __init__(self, *, policy: ScopePolicy, nodes: NodeLocator, commits: CommitStep, clock: Clock) -> None:
        self._policy = policy
        self._nodes = nodes
        self._commits = commits
        self._clock = clock

    async def execute(self, request: TaskCreated, meta: RequestMeta | None = None) -> None:
        """Upsert the task."""
        meta = meta or RequestMeta()
        task_id = require_id(request.task_id, "task_id")
        plan_id = require_id(request.plan_id, "plan_id")
        require_non_negative(request.priority, "priority")
        require_non_negative(request.estimated_hours, "estimated_hours")
        story_id = await owner_story(self._nodes, NodeKind.PLAN, plan_id, request.story_id)
        role = fleet_role(self._policy, request.role)
        mutation = _task(request, task_id, story_id, role, iso_from_ms(meta.at_ms(self._clock)))
        await self._commits.run(WriteBatch(story_id, (mutation,)), meta)


def _task(request: TaskCreated, task_id: str, story_id: str, role: str, now: str) -> Mutation:
    """The task with what the event says (absent optional fields keep their stored or default values)."""
    event = {
        "title": limit_text(request.title, "title"),
        "plan_id": request.plan_id,
        "type": request.task_type,
        "status": request.status,
        "role": role,
        "description": limit_text(request.description, "description").strip(),
        "priority": request.priority,
        "estimated_hours": request.estimated_hours,
    }
    fields, on_create = task.planned(event, now), task.on_create(story_id, now)
    return Mutation(NodeKind.TASK, task_id, fields=fields, on_create=on_create, plan_edge={})
