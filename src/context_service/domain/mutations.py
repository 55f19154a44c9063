"""Graph writes as data: MERGE-style mutations committed together in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from context_service.domain.model import ChangeRecord

Scalar = str | int | float | bool


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


# Structural edge from the story to each story-scoped node kind.
STORY_EDGES: dict[NodeKind, str] = {
    NodeKind.TASK: "HAS_TASK",
    NodeKind.DECISION: "HAS_DECISION",
    NodeKind.MILESTONE: "HAS_MILESTONE",
    NodeKind.PLAN: "HAS_PLAN",
    NodeKind.TRANSITION: "HAS_PHASE",
    NodeKind.PLAN_APPROVAL: "HAS_APPROVAL",
    NodeKind.TASK_DISPATCH: "HAS_DISPATCH",
}
# The story property every committed batch of the story bumps by one, atomically with its write (the content
# revision: unlike context_version, which only UpdateContext-style writes bump). Leading "_": the stores' own
# bookkeeping, never shown as a node property.
CONTENT_REVISION = "_rev"
# The story property holding the seq of its last history record (seqs are never reused).
HISTORY_SEQ = "_seq"
# The legacy typed id property of each label, written beside `id`.
TYPED_ID: dict[NodeKind, str] = {
    NodeKind.STORY: "story_id",
    NodeKind.TASK: "task_id",
    NodeKind.PLAN: "plan_id",
    NodeKind.PROJECT: "project_id",
    NodeKind.EPIC: "epic_id",
}

DECISION_RELATIONS = frozenset(
    {LinkKind.DEPENDS_ON, LinkKind.SUPERSEDES, LinkKind.GOVERNS, LinkKind.RELATES_TO}
)


@dataclass(frozen=True)
class Link:
    """An edge between the mutated node and another node of the story (outgoing unless `incoming`)."""

    kind: LinkKind
    target_kind: NodeKind
    target_id: str
    incoming: bool = False


@dataclass(frozen=True)
class Mutation:
    """MERGE a node by id under the story: `on_create` only when new, then `fields`; optional links.

    `replace_links` lists link kinds whose existing outgoing edges are removed before `links` are merged.
    `plan_edge` carries the (PlanVersion)-[:HAS_TASK {...}]->(Task) metadata for a task.
    """

    kind: NodeKind
    node_id: str
    fields: Mapping[str, Scalar] = field(default_factory=dict)
    on_create: Mapping[str, Scalar] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    replace_links: tuple[LinkKind, ...] = ()
    plan_edge: Mapping[str, Scalar] | None = None

    def applied_to(self, existing: Mapping[str, Any] | None) -> dict[str, Any]:
        """The node's properties after this mutation (`existing`: before it, None when the node is new)."""
        if existing is not None:
            return {**existing, **self.fields}
        props: dict[str, Any] = {"id": self.node_id, **self.on_create, **self.fields}
        if self.kind in TYPED_ID:
            props[TYPED_ID[self.kind]] = self.node_id
        return props


@dataclass(frozen=True)
class WriteBatch:
    """Everything one use case writes, committed atomically (`story_id` empty: planning nodes only).

    - `expect_phase`: commit only if the story's current phase equals it (else PreconditionFailed).
    - `bump_version`: increase the story's context_version by one.
    - `history`: records staged by the use case (who, why); the store adds one for every other node the
      batch writes, and stamps them all (version, seq, digests, `source`, `timestamp` when empty).
    - `request_id`: when already recorded for the story, nothing is written (exactly-once retries).
    - `changed`: the (entity type, id) pairs the batch announces, under `event_key` (default: the version
      after the write); both are kept with the request's commit record, so a replay announces exactly what
      the first commit did.
    """

    story_id: str
    mutations: tuple[Mutation, ...]
    expect_phase: str | None = None
    bump_version: bool = False
    history: tuple[ChangeRecord, ...] = ()
    request_id: str = ""
    changed: tuple[tuple[str, str], ...] = ()
    event_key: str = ""
    source: str = ""
    timestamp: str = ""


@dataclass(frozen=True)
class CommitResult:
    """What a committed batch left behind (`changed`: what it announces, also when replayed)."""

    version: int
    current_phase: str
    replayed: bool = False
    changed: tuple[tuple[str, str], ...] = ()
    event_key: str = ""
    source: str = ""
    timestamp: str = ""
