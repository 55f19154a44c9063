"""Project: the top of the planning hierarchy (not story-scoped)."""

from __future__ import annotations

from context_service.domain.schema.labels import Fields, Label, NodeKind

LABEL = Label(NodeKind.PROJECT, typed_id="project_id")
DEFAULT_STATUS = "ACTIVE"


def fields(name: str, description: str, owner: str, status: str) -> Fields:
    """What every planning.project.created sets (upper-cased status, ACTIVE when empty)."""
    return {
        "name": name,
        "description": description.strip(),
        "owner": owner.strip(),
        "status": status.strip().upper() or DEFAULT_STATUS,
    }


def on_create(created_at_ms: int) -> Fields:
    """Kept from the project's first write."""
    return {"created_at_ms": created_at_ms}
