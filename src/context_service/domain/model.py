"""Entities of the knowledge graph as the use cases see them: immutable snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from context_service.domain.redaction import redact
from context_service.domain.vocabulary import DELETED, DONE_STATUSES

UNSET_PRIORITY_RANK = 1 << 30


@dataclass(frozen=True)
class Story:
    """A story (the legacy "case"): the unit agents work on."""

    story_id: str
    title: str
    description: str = ""
    status: str = "ACTIVE"
    current_phase: str = "DESIGN"
    context_version: int = 0
    created_by: str = ""
    created_at: str = ""
    updated_at: str = ""
    epic_id: str = ""
    # Bumped by every committed write to the story (response caches key on it); not part of what the story
    # says, so two reads of the same content compare equal whatever writes (e.g. redeliveries) came between.
    content_revision: int = field(default=0, compare=False)


@dataclass(frozen=True)
class TaskOrigin:
    """Why a task exists: the planning decision that created it."""

    decided_by: str = ""
    decision_reason: str = ""
    council_feedback: str = ""
    decided_at: str = ""
    source: str = ""

    def is_empty(self) -> bool:
        """True when no field carries information."""
        return not any(
            (self.decided_by, self.decision_reason, self.council_feedback, self.decided_at, self.source)
        )


@dataclass(frozen=True)
class Task:
    """A task (subtask) of a story, assigned to one role."""

    task_id: str
    story_id: str
    title: str
    description: str = ""
    role: str = ""
    status: str = "PENDING"
    priority: int = 0
    estimated_hours: int = 0
    dependencies: tuple[str, ...] = ()
    plan_id: str = ""
    task_type: str = ""
    created_at: str = ""
    updated_at: str = ""
    origin: TaskOrigin | None = None

    @property
    def sort_key(self) -> tuple[int, str]:
        """Priority first (1 = highest, unset last), then id."""
        return (self.priority if self.priority > 0 else UNSET_PRIORITY_RANK, self.task_id)

    @property
    def is_done(self) -> bool:
        """True when the task's status counts as completed."""
        return self.status.upper() in DONE_STATUSES


@dataclass(frozen=True)
class Decision:
    """A recorded decision with its rationale and the tasks it influences."""

    decision_id: str
    story_id: str
    title: str
    rationale: str = ""
    status: str = "PROPOSED"
    decision_type: str = ""
    alternatives_considered: str = ""
    decided_by: str = "UNKNOWN"
    decided_at: str = ""
    created_at_ms: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)
    influences: tuple[str, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str]:
        """Creation order, then id."""
        return (self.created_at_ms, self.decision_id)


@dataclass(frozen=True)
class DecisionEdge:
    """A decision-to-decision relationship (DEPENDS_ON, SUPERSEDES, GOVERNS, RELATES_TO)."""

    src_id: str
    dst_id: str
    relation_type: str


@dataclass(frozen=True)
class PlanVersion:
    """One version of a story's plan."""

    plan_id: str
    story_id: str
    version: int = 1
    status: str = "DRAFT"
    author_id: str = ""
    rationale: str = ""
    created_at_ms: int = 0


@dataclass(frozen=True)
class Milestone:
    """A timeline event of a story."""

    event_type: str
    description: str
    ts_ms: int
    actor: str = ""
    milestone_id: str = ""
    status: str = ""


@dataclass(frozen=True)
class PhaseTransition:
    """A recorded move of a story from one phase to another."""

    transition_id: str
    story_id: str
    from_phase: str
    to_phase: str
    rationale: str
    transitioned_at: str
    ts_ms: int


@dataclass(frozen=True)
class StoryGraph:
    """A story's whole neighbourhood, loaded in one read; soft-deleted entities already left out."""

    story: Story
    tasks: tuple[Task, ...] = ()
    decisions: tuple[Decision, ...] = ()
    decision_edges: tuple[DecisionEdge, ...] = ()
    plans: tuple[PlanVersion, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    transitions: tuple[PhaseTransition, ...] = ()
    # False when the load shows a node no story owns (left by the legacy service): a write to such a node
    # bumps no story's content revision, so an answer built from this load must not be cached on it.
    cacheable: bool = field(default=True, compare=False)

    def task(self, task_id: str) -> Task | None:
        """The live task with this id, if it belongs to the story."""
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def latest_plan(self) -> PlanVersion | None:
        """The plan version with the highest version number."""
        return max(self.plans, key=lambda p: (p.version, p.created_at_ms, p.plan_id), default=None)


@dataclass(frozen=True)
class PlanningReadModel:
    """The planning read-models other fleet services keep for a story (Valkey in production)."""

    spec: Mapping[str, object] | None = None
    draft_plan: Mapping[str, object] | None = None
    timeline: tuple[Milestone, ...] = ()
    story_summary: str = ""
    role_summaries: Mapping[str, str] = field(default_factory=dict)

    def summary_for(self, role: str) -> str:
        """The role's last summary, else the story's."""
        return self.role_summaries.get(role) or self.story_summary


@dataclass(frozen=True)
class ChangeRecord:
    """One applied change in a story's history (admin.proto HistoryRecord); the store stamps the tail.

    `seq` strictly increases per story and is never reused; `version` is the story's context_version after
    the write; the digests are sha256 of the entity's canonical stored properties ("" when absent or
    soft-deleted); `source` is the RPC name or NATS subject that wrote it.
    """

    version: int
    role: str
    task_id: str
    operation: str
    entity_type: str
    entity_id: str
    reason: str
    timestamp: str
    request_id: str = ""
    # Position in the story's history (strictly increasing, never reused); the adapter assigns it.
    seq: int = 0
    # sha256 of the entity's canonical stored properties before and after ("" when absent).
    digest_before: str = ""
    digest_after: str = ""
    # What wrote it: the RPC's name or the NATS subject.
    source: str = ""


@dataclass(frozen=True)
class GraphEntity:
    """A node as the relationship explorer sees it."""

    node_id: str
    label: str
    properties: Mapping[str, object]

    @property
    def title(self) -> str:
        """The node's human title (title, else name)."""
        return str(self.properties.get("title") or self.properties.get("name") or "")


@dataclass(frozen=True)
class GraphLink:
    """A relationship as the relationship explorer sees it."""

    src_id: str
    dst_id: str
    rel_type: str
    properties: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Neighbourhood:
    """A node with its neighbours up to some depth and the relationships among them."""

    node: GraphEntity
    neighbours: tuple[GraphEntity, ...]
    links: tuple[GraphLink, ...]
    truncated: bool = False

    def redacted(self) -> Neighbourhood:
        """The same neighbourhood with every string property redacted (graph text reaches agents too)."""
        return Neighbourhood(
            node=replace(self.node, properties=_redact_values(self.node.properties)),
            neighbours=tuple(replace(n, properties=_redact_values(n.properties)) for n in self.neighbours),
            links=tuple(replace(link, properties=_redact_values(link.properties)) for link in self.links),
            truncated=self.truncated,
        )


def _redact_values(properties: Mapping[str, object]) -> dict[str, object]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in properties.items()}


@dataclass(frozen=True)
class Located:
    """Where a node lives: its owning story and its status."""

    story_id: str
    status: str

    def live_in(self, story_id: str) -> bool:
        """True when the node belongs to `story_id` and is not soft-deleted."""
        return self.story_id == story_id and is_live(self.status)


def is_live(status: str) -> bool:
    """False for soft-deleted entities."""
    return status.upper() != DELETED
