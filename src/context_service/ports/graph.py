"""Graph store ports: the story neighbourhood read, relationship exploration, atomic write batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from context_service.domain.model import ChangeRecord, Located, Neighbourhood, Story, StoryGraph
from context_service.domain.mutations import CommitResult, NodeKind, WriteBatch


class StoryReader(Protocol):
    """Reads a story, or its whole neighbourhood, in one round trip."""

    async def get_story(self, story_id: str) -> Story | None:
        """The story node, or None."""
        ...

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """Story, live tasks, decisions, edges, plans, milestones and transitions; None if no story."""
        ...


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
        self, story_id: str, *, limit: int = 100, before_version: int = 0
    ) -> list[ChangeRecord]:
        """Change records newest first; `before_version` > 0 pages back from that version."""
        ...
