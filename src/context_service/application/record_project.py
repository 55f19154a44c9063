"""RecordProject: upsert a project, the top of the planning hierarchy (planning.project.created, the demo)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, enum_value
from context_service.domain.limits import limit_text, require_id, require_text
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
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
        fields = {
            "name": require_text(request.name, "name"),
            "description": limit_text(request.description, "description").strip(),
            "owner": request.owner.strip(),
            "status": enum_value(request.status, "ACTIVE"),
        }
        project = Mutation(
            NodeKind.PROJECT,
            require_id(request.project_id, "project_id"),
            fields=fields,
            on_create={"created_at_ms": request.created_at_ms or meta.at_ms(self._clock)},
        )
        await self._commits.run(WriteBatch("", (project,)), meta)
