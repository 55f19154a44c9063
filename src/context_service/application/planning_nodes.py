"""Project and epic upserts (the planning hierarchy above stories), idempotent by id."""

from __future__ import annotations

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta
from context_service.domain.limits import limit_text, require_id, require_text
from context_service.domain.mutations import Link, LinkKind, Mutation, NodeKind, WriteBatch
from context_service.ports.system import Clock


def project_mutation(
    project_id: str, *, name: str, description: str, owner: str, status: str, created_at_ms: int
) -> Mutation:
    """Upsert of a project node (validated), created_at_ms kept from its first write."""
    fields = {
        "name": require_text(name, "name"),
        "description": limit_text(description, "description").strip(),
        "owner": owner.strip(),
        "status": status,
    }
    return Mutation(
        NodeKind.PROJECT,
        require_id(project_id, "project_id"),
        fields=fields,
        on_create={"created_at_ms": created_at_ms},
    )


def epic_mutation(
    epic_id: str, *, project_id: str, title: str, description: str, status: str, created_at_ms: int
) -> Mutation:
    """Upsert of an epic node (validated) and its (Project)-[:HAS_EPIC]->(Epic) edge."""
    project_id = require_id(project_id, "project_id")
    fields = {
        "project_id": project_id,
        "title": require_text(title, "title"),
        "description": limit_text(description, "description").strip(),
        "status": status,
    }
    return Mutation(
        NodeKind.EPIC,
        require_id(epic_id, "epic_id"),
        fields=fields,
        on_create={"created_at_ms": created_at_ms},
        links=(Link(LinkKind.HAS_EPIC, NodeKind.PROJECT, project_id, incoming=True),),
    )


class RegisterPlanning:
    """MERGE Project and Epic nodes and link stories to epics."""

    def __init__(self, *, commits: CommitStep, clock: Clock) -> None:
        self._commits = commits
        self._clock = clock

    async def project(self, project_id: str, name: str, description: str = "", owner: str = "") -> None:
        """Upsert a project."""
        mutation = project_mutation(
            project_id,
            name=name,
            description=description,
            owner=owner,
            status="ACTIVE",
            created_at_ms=self._clock.now_ms(),
        )
        await self._commits.run(WriteBatch("", (mutation,)), RequestMeta())

    async def epic(self, epic_id: str, project_id: str, title: str, description: str = "") -> None:
        """Upsert an epic under its project."""
        mutation = epic_mutation(
            epic_id,
            project_id=project_id,
            title=title,
            description=description,
            status="ACTIVE",
            created_at_ms=self._clock.now_ms(),
        )
        await self._commits.run(WriteBatch("", (mutation,)), RequestMeta())

    async def link_story(self, epic_id: str, story_id: str) -> None:
        """(Epic)-[:CONTAINS_STORY]->(Story), and the story's epic_id."""
        link = Link(LinkKind.CONTAINS_STORY, NodeKind.EPIC, require_id(epic_id, "epic_id"), incoming=True)
        mutation = Mutation(
            NodeKind.STORY, require_id(story_id, "story_id"), fields={"epic_id": epic_id}, links=(link,)
        )
        await self._commits.run(WriteBatch(story_id, (mutation,)), RequestMeta())
