"""RecordProject: upsert a project, the top of the planning hierarchy (planning.project.created, the demo)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta
from context_service.domain.limits import limit_text, require_id, require_text
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.schema import project
from context_service.ports.system import Clock


@dataclass(frozen=True)
class ProjectCreated:
    """RecordProject input (planning.project.created)."""

    project_id: str
    name: str
    description: str = ""
    status: str = ""
    owner: str = ""
    created_at_ms: int = 0


class RecordProject:
    """MERGEs the Project node by id; created_at_ms is kept from its first write."""

    def __init__(self, *, commits: CommitStep, clock: Clock) -> None:
        self._commits = commits
        self._clock = clock

    async def execute(self, request: ProjectCreated, meta: RequestMeta | None = None) -> None:
        """Upsert the project."""
        meta = meta or RequestMeta()
        name = require_text(request.name, "name")
        description = limit_text(request.description, "description")
        node = Mutation(
            NodeKind.PROJECT,
            require_id(request.project_id, "project_id"),
            fields=project.fields(name, description, request.owner, request.status),
            on_create=project.on_create(request.created_at_ms or meta.at_ms(self._clock)),
        )
        await self._commits.run(WriteBatch("", (node,)), meta)
