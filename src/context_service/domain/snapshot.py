"""A story's snapshot: its stored subgraph (every property), its history and its read-models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from context_service.domain.model import ChangeRecord
from context_service.domain.mutations import NodeKind

# Story-scoped node labels and the document section each is listed in (the story itself is `story`).
SECTIONS: dict[str, str] = {
    NodeKind.TASK.value: "tasks",
    NodeKind.PLAN.value: "plans",
    NodeKind.DECISION.value: "decisions",
    NodeKind.MILESTONE.value: "milestones",
    NodeKind.TRANSITION.value: "transitions",
    NodeKind.PLAN_APPROVAL.value: "plan_approvals",
    NodeKind.TASK_DISPATCH.value: "task_dispatches",
}
CHANGE_FIELDS = tuple(ChangeRecord.__dataclass_fields__)


@dataclass(frozen=True, order=True)
class NodeRef:
    """A node by label and id (ids are unique per label)."""

    label: str
    node_id: str


@dataclass(frozen=True)
class StoredNode:
    """A node exactly as stored: its label and every property (including `id`)."""

    label: str
    properties: Mapping[str, object]

    @property
    def ref(self) -> NodeRef:
        """Label and id."""
        return NodeRef(self.label, str(self.properties.get("id", "")))


@dataclass(frozen=True)
class StoredEdge:
    """A relationship exactly as stored: type, ends and every property."""

    rel_type: str
    src: NodeRef
    dst: NodeRef
    properties: Mapping[str, object]

    @property
    def key(self) -> tuple[str, NodeRef, NodeRef]:
        """Its identity: (type, start, end), as with MERGE."""
        return (self.rel_type, self.src, self.dst)


@dataclass(frozen=True)
class StorySubgraph:
    """The story node, every node hanging off it (live or soft-deleted), the edges among them, the epic and
    project it hangs under (references an import creates when missing) and its history, oldest first."""

    story: Mapping[str, object]
    nodes: tuple[StoredNode, ...] = ()
    edges: tuple[StoredEdge, ...] = ()
    epic: Mapping[str, object] | None = None
    project: Mapping[str, object] | None = None
    history: tuple[ChangeRecord, ...] = ()

    @property
    def story_id(self) -> str:
        """The story's id."""
        return str(self.story.get("id", ""))


@dataclass(frozen=True)
class StreamEntry:
    """One stream entry: its id and its fields in stored order."""

    entry_id: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReadModelEntry:
    """One read-model key of the story: a string value or a stream, and its absolute expiry (0: none)."""

    key: str
    kind: str
    value: str = ""
    entries: tuple[StreamEntry, ...] = ()
    expire_at_ms: int = 0


@dataclass(frozen=True)
class StorySnapshot:
    """Everything an export carries and an import restores."""

    subgraph: StorySubgraph
    read_models: tuple[ReadModelEntry, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    story_id: str
    version: int
    nodes: int
    edges: int
    history_records: int


def read_model_prefix(story_id: str) -> str:
    """The key prefix of a story's read-models shared with the fleet (`swe:case:{id}:`)."""
    return f"swe:case:{story_id}:"


def change_fields(record: ChangeRecord) -> dict[str, object]:
    """A change record's fields by name (dataclasses.asdict is a deep copy, ten times slower)."""
    return {name: getattr(record, name) for name in CHANGE_FIELDS}
