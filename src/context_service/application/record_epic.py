"""RecordEpic: upsert an epic under its project (planning.epic.created, the demo)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta
from context_service.domain.limits import limit_text, require_id, require_text
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.schema import epic
from context_service.ports.system import Clock


@dataclass(frozen=True)
class EpicCreated:
    """RecordEpic input (planning.epic.created)."""

    epic_id: str
    project_id: str
    title: str
    description: str = ""
    status: str = ""
    created_at_ms: int = 0


class RecordEpic:
    """MERGEs the Epic node and its (Project)-[:HAS_EPIC]->(Epic) edge; the project must be known."""

    def __init__(self, *, commits: CommitStep, clock: Clock) -> None:
        self._commits = commits
        self._clock = clock

    async def execute(self, request: EpicCreated, meta: RequestMeta | None = None) -> None:
        """Upsert the epic."""
        meta = meta or RequestMeta()
        project_id = require_id(request.project_id, "project_id")
        title = require_text(request.title, "title")
        description = limit_text(request.description, "description")
        node = Mutation(
            NodeKind.EPIC,
            require_id(request.epic_id, "epic_id"),
            fields=epic.fields(project_id, title, description, request.status),
            on_create=epic.on_create(request.created_at_ms or meta.at_ms(self._clock)),
            links=epic.links(project_id),
        )
        await self._commits.run(WriteBatch("", (node,)), meta)
