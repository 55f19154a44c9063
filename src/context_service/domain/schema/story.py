"""Story: the root of a story's subgraph; its phase, version and revision, and the epic it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.domain.model import Story
from context_service.domain.schema.fields import ChangeRejected, decode, put, text
from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind

LABEL = Label(NodeKind.STORY, typed_id="story_id")
# Bumped by one by every committed batch of the story, atomically with its write (the content revision: unlike
# context_version, which only UpdateContext-style writes bump). Leading "_": the stores' own bookkeeping,
# never shown as a node property.
CONTENT_REVISION = "_rev"
# The seq of the story's last history record (seqs are never reused).
HISTORY_SEQ = "_seq"
READ_AS = {"story_id": "id", "content_revision": CONTENT_REVISION}
READ_DEFAULTS = {"status": "ACTIVE", "current_phase": "DESIGN"}


def first_version() -> Fields:
    """A new story's context version (bumped by UpdateContext-style writes only)."""
    return {"context_version": 0}


def on_create(story: Story) -> Fields:
    """A new story's properties (the epic, when there is one, is set by `epic_fields`)."""
    return {
        "title": story.title,
        "description": story.description,
        "status": story.status,
        "current_phase": story.current_phase,
        **first_version(),
        "created_by": story.created_by,
        "created_at": story.created_at,
        "updated_at": story.updated_at,
        "epic_id": "",
    }


def epic_fields(epic_id: str) -> tuple[Fields, tuple[Link, ...]]:
    """Under an epic: the story's epic_id and the (Epic)-[:CONTAINS_STORY] edge; nothing without one."""
    if not epic_id:
        return {}, ()
    return {"epic_id": epic_id}, (Link(LinkKind.CONTAINS_STORY, NodeKind.EPIC, epic_id, incoming=True),)


def phase_fields(phase: str, now_iso: str) -> Fields:
    """The story moved to `phase`."""
    return {"current_phase": phase, "updated_at": now_iso}


def from_payload(payload: Mapping[str, Any], now_iso: str) -> Fields:
    """What a CASE change may set on the story."""
    fields: Fields = {"updated_at": now_iso}
    put(fields, "title", text(payload, "title"))
    put(fields, "description", text(payload, "description"))
    put(fields, "status", text(payload, "status", upper=True))
    if fields.get("title") == "":
        raise ChangeRejected("title cannot be blank")
    return fields


def read(p: Mapping[str, Any]) -> Story:
    """The story from its stored properties."""
    return decode(Story, p, renamed=READ_AS, defaults=READ_DEFAULTS)
