"""The graph's vocabulary: labels, relationship types, links and the per-label shape every schema declares."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
