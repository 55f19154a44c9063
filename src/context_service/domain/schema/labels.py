"""The graph's vocabulary: labels, relationship types, links and the per-label shape every schema declares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Scalar = str | int | float | bool
Fields = dict[str, Scalar]


class NodeKind(StrEnum):
    """Graph labels the service writes (a fixed whitelist: labels are never built from input)."""

    STORY = "Story"
    TASK = "Task"
    DECISION = "Decision"
    MILESTONE = "Event"
    PLAN = "PlanVersion"
    TRANSITION = "PhaseTransition"
    PROJECT = "Project"
    EPIC = "Epic"
    PLAN_APPROVAL = "PlanApproval"
    TASK_DISPATCH = "TaskDispatch"


class LinkKind(StrEnum):
    """Relationship types the service writes (a fixed whitelist)."""

    DEPENDS_ON = "DEPENDS_ON"
    INFLUENCED_BY = "INFLUENCED_BY"
    SUPERSEDES = "SUPERSEDES"
    GOVERNS = "GOVERNS"
    RELATES_TO = "RELATES_TO"
    HAS_EPIC = "HAS_EPIC"
    CONTAINS_STORY = "CONTAINS_STORY"
    APPROVES = "APPROVES"
    DISPATCHES = "DISPATCHES"


@dataclass(frozen=True)
class Link:
    """An edge between the mutated node and another node of the story (outgoing unless `incoming`)."""

    kind: LinkKind
    target_kind: NodeKind
    target_id: str
    incoming: bool = False


@dataclass(frozen=True)
class Label:
    """A label's place in the graph: the story's edge to it (story-scoped labels) and its typed legacy id."""

    kind: NodeKind
    story_edge: str = ""
    typed_id: str = ""

    def typed(self, node_id: str) -> Fields:
        """The typed id property written beside `id` (none for a label without one)."""
        return {self.typed_id: node_id} if self.typed_id else {}

    @property
    def legacy_keys(self) -> tuple[str, ...]:
        """Where a legacy record of this label keeps its id: the typed id first, then `id`."""
        return (self.typed_id, "id") if self.typed_id else ("id",)

    def legacy_id(self, props: Mapping[str, Any]) -> str:
        """A legacy record's id: the first of `legacy_keys` it holds ('' when none)."""
        return next((str(props[k]) for k in self.legacy_keys if props.get(k)), "")
