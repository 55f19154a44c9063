"""Graph store ports: the story neighbourhood read, relationship exploration, atomic write batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from context_service.domain.model import ChangeRecord, Located, Neighbourhood, Story, StoryGraph
from context_service.domain.mutations import CommitResult, NodeKind, WriteBatch
from context_service.domain.snapshot import StorySubgraph


class StoryReader(Protocol):
    """Reads a story, or its whole neighbourhood, in one round trip."""

    async def get_story(self, story_id: str) -> Story | None:
        """The story node, or None."""
        ...

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """Story, live tasks, decisions, edges, plans, milestones and transitions; None if no story."""
        ...


# A content revision no story has: `load_if_changed` with it always loads.
NO_REVISION = -1


class StoryRevisions(Protocol):
    """The content revision of a story: every write that changes its context bumps it with the write."""

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """The story's content revision and, unless it is `seen`, its load (as `load_story_graph` gives it),
        in one round trip; (None, None) when there is no story."""
        ...


class StoryLoads(StoryReader, StoryRevisions, Protocol):
    """A story's loads, whole or only when its revision moved."""


class NodeLocator(Protocol):
    """Owner and status of some nodes, without loading a whole story."""

    async def locate(self, nodes: Iterable[tuple[NodeKind, str]]) -> Mapping[tuple[NodeKind, str], Located]:
        """(kind, id) -> where it lives, for the nodes that exist (a story owns itself); one round trip."""
        ...


class RelationshipReader(Protocol):
    """Explores a node's neighbourhood up to a bounded depth."""

    async def neighbourhood(self, label: str, node_id: str, depth: int, limit: int) -> Neighbourhood | None:
        """The node, its neighbours within `depth` hops (at most `limit`) and the edges among them."""
        ...


class GraphWriter(Protocol):
    """Commits one use case's writes atomically."""

    async def commit(self, batch: WriteBatch) -> CommitResult:
        """Apply every mutation of the batch in one transaction, or none of them."""
        ...


class CommitLog(Protocol):
    """The exactly-once record of committed requests."""

    async def committed(self, story_id: str, request_id: str) -> CommitResult | None:
        """What the request's commit left behind (`replayed` set), or None if it was never committed."""
        ...


class HistoryReader(Protocol):
    """Reads a story's change history."""

    async def history(
        self, story_id: str, *, entity_id: str = "", limit: int = 100, before_seq: int = 0
    ) -> list[ChangeRecord]:
        """Records by seq, newest first; only `entity_id`'s if given; only below `before_seq` if > 0."""
        ...


class StoryArchive(Protocol):
    """Reads a story's whole stored subgraph, and replaces it atomically."""

    async def export_story(self, story_id: str) -> StorySubgraph | None:
        """Every node of the story (soft-deleted ones too) with every property, the edges among them, the
        epic and project above it, and its whole history; None if there is no such story."""
        ...

    async def import_story(self, subgraph: StorySubgraph, *, replace: bool) -> None:
        """Write the subgraph as given (ids, versions, seqs, digests kept) in one transaction.

        Raises StoryExists when the story exists and not `replace`, OwnershipConflict when a node id belongs
        to another story; with `replace` the old subgraph and history go in the same transaction.
        """
        ...


class GraphStore(
    StoryReader,
    StoryRevisions,
    NodeLocator,
    RelationshipReader,
    GraphWriter,
    CommitLog,
    HistoryReader,
    StoryArchive,
    Protocol,
):
    """Every graph port at once (what a graph adapter provides)."""
