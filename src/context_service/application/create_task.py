"""CreateTask: create a task under a story (idempotent on task_id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, locate_tasks
from context_service.domain.errors import AlreadyExists, InvalidArgument
from context_service.domain.limits import limit_text, require_id, require_non_negative, require_text
from context_service.domain.mutations import LinkKind, Mutation, NodeKind, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.schema import task
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock

MAX_DEPENDENCIES = 100


@dataclass(frozen=True)
class TaskRequest:
    """CreateTask input."""

    story_id: str
    task_id: str
    title: str
    description: str = ""
    role: str = ""
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    estimated_hours: int = 0


@dataclass(frozen=True)
class TaskCreated:
    """CreateTask output."""

    task_id: str
    story_id: str
    status: str


class CreateTask:
    """Validates the task and its dependencies, then MERGEs it into the story."""

    def __init__(
        self,
        *,
        policy: ScopePolicy,
        nodes: NodeLocator,
        commits: CommitStep,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._nodes = nodes
        self._commits = commits
        self._clock = clock

    async def execute(self, request: TaskRequest, meta: RequestMeta | None = None) -> TaskCreated:
        """Create once; a repeat returns the stored status and changes nothing."""
        story_id = require_id(request.story_id, "story_id")
        task_id = require_id(request.task_id, "task_id")
        title = require_text(request.title, "title")
        role = self._policy.require_role(request.role)
        deps = self._dependencies(task_id, request.dependencies)
        require_non_negative(request.priority, "priority")
        require_non_negative(request.estimated_hours, "estimated_hours")
        tasks = await locate_tasks(self._nodes, story_id, [task_id, *deps])
        existing = tasks.get(task_id)
        if existing is not None and existing.story_id != story_id:
            raise AlreadyExists(f"task '{task_id}' already exists in story '{existing.story_id}'")
        if existing is not None and existing.live_in(story_id):
            return TaskCreated(task_id, story_id, existing.status)
        missing = [d for d in deps if d not in tasks or not tasks[d].live_in(story_id)]
        if missing:
            raise InvalidArgument(
                "unknown dependencies in this story: " + ", ".join(missing), field="dependencies"
            )
        payload: dict[str, str | int] = {
            "title": title,
            "description": limit_text(request.description, "description").strip(),
            "role": role,
            "priority": request.priority,
            "estimated_hours": request.estimated_hours,
        }
        mutation = self._mutation(story_id, task_id, payload, deps)
        await self._commits.run(WriteBatch(story_id, (mutation,)), meta or RequestMeta())
        return TaskCreated(task_id, story_id, task.DEFAULT_STATUS)

    def _mutation(
        self, story_id: str, task_id: str, payload: dict[str, str | int], deps: tuple[str, ...]
    ) -> Mutation:
        """SET everything (not only on create): a soft-deleted task with this id comes back as new."""
        now = iso_from_ms(self._clock.now_ms())
        fields = task.from_payload(payload, False, self._policy.normalise_role, now)
        return Mutation(
            NodeKind.TASK,
            task_id,
            fields={**task.on_create(story_id, now), **fields},
            links=task.dependency_links(deps),
            replace_links=(LinkKind.DEPENDS_ON,),
        )

    def _dependencies(self, task_id: str, raw: Sequence[str]) -> tuple[str, ...]:
        deps = tuple(dict.fromkeys(require_id(d, "dependencies") for d in raw))
        if len(deps) > MAX_DEPENDENCIES:
            raise InvalidArgument(f"at most {MAX_DEPENDENCIES} dependencies", field="dependencies")
        if task_id in deps:
            raise InvalidArgument("a task cannot depend on itself", field="dependencies")
        return deps
