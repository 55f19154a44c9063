"""DispatchTask: set a task IN_PROGRESS and record who it went to (orchestration.task.dispatched)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, fleet_role
from context_service.domain.errors import InvalidArgument, NotFound, NotYetKnown
from context_service.domain.limits import optional_id, require_id
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.schema import task, task_dispatch
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock, IdGenerator


@dataclass(frozen=True)
class TaskDispatched:
    """DispatchTask input."""

    task_id: str
    story_id: str = ""
    agent_id: str = ""
    role: str = ""


class DispatchTask:
    """The live task set IN_PROGRESS, and one TaskDispatch node per dispatch pointing at it."""

    def __init__(
        self, *, policy: ScopePolicy, nodes: NodeLocator, commits: CommitStep, ids: IdGenerator, clock: Clock
    ) -> None:
        self._policy = policy
        self._nodes = nodes
        self._commits = commits
        self._ids = ids
        self._clock = clock

    async def execute(self, request: TaskDispatched, meta: RequestMeta | None = None) -> None:
        """Record the dispatch."""
        meta = meta or RequestMeta()
        task_id = require_id(request.task_id, "task_id")
        claimed = optional_id(request.story_id, "story_id")
        where = (await self._nodes.locate([(NodeKind.TASK, task_id)])).get((NodeKind.TASK, task_id))
        if where is None:
            raise NotYetKnown("task", task_id)
        if not where.live_in(where.story_id):
            raise NotFound("task", task_id)
        if claimed and claimed != where.story_id:
            raise InvalidArgument(f"task '{task_id}' belongs to story '{where.story_id}'", field="story_id")
        at_ms = meta.at_ms(self._clock)
        role = fleet_role(self._policy, request.role)
        dispatched = Mutation(NodeKind.TASK, task_id, fields=task.dispatched(iso_from_ms(at_ms)))
        dispatch = Mutation(
            NodeKind.TASK_DISPATCH,
            task_dispatch.node_id(task_id, meta.ref(self._ids, 12)),
            on_create=task_dispatch.on_create(where.story_id, task_id, request.agent_id, role, at_ms),
            links=task_dispatch.links(task_id),
        )
        await self._commits.run(WriteBatch(where.story_id, (dispatched, dispatch)), meta)
