"""Graph writes as data: MERGE-style mutations committed together in one transaction.

What each label stores is declared in `domain.schema`; the names re-exported here are its vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from context_service.domain.model import ChangeRecord
from context_service.domain.schema import STORY_EDGES, TYPED_ID
from context_service.domain.schema.decision import RELATIONS as DECISION_RELATIONS
from context_service.domain.schema.labels import Link, LinkKind, NodeKind, Scalar
from context_service.domain.schema.story import CONTENT_REVISION, HISTORY_SEQ

__all__ = [
    "CONTENT_REVISION",
    "DECISION_RELATIONS",
    "HISTORY_SEQ",
    "STORY_EDGES",
    "TYPED_ID",
    "CommitResult",
    "Link",
    "LinkKind",
    "Mutation",
    "NodeKind",
    "Scalar",
    "WriteBatch",
]


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
