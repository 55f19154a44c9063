"""Epic: a group of stories under a project (not story-scoped)."""

from __future__ import annotations

from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind

LABEL = Label(NodeKind.EPIC, typed_id="epic_id")
DEFAULT_STATUS = "ACTIVE"


def fields(project_id: str, title: str, description: str, status: str) -> Fields:
    """What every planning.epic.created sets (upper-cased status, ACTIVE when empty)."""
    return {
        "project_id": project_id,
        "title": title,
        "description": description.strip(),
        "status": status.strip().upper() or DEFAULT_STATUS,
    }


def on_create(created_at_ms: int) -> Fields:
    """Kept from the epic's first write."""
    return {"created_at_ms": created_at_ms}


def links(project_id: str) -> tuple[Link, ...]:
    """(Project)-[:HAS_EPIC]->(Epic)."""
    return (Link(LinkKind.HAS_EPIC, NodeKind.PROJECT, project_id, incoming=True),)
