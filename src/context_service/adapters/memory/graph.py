"""In-memory property graph implementing every graph port, with atomic write batches."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Self

from context_service.adapters.property_graph.archive import (
    check_owners,
    members,
    remove_story,
    subgraph_of,
    write_subgraph,
)
from context_service.adapters.property_graph.rules import check_commit
from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph, Transaction
from context_service.adapters.property_graph.views import neighbourhood_of, story_graph_of, story_of
from context_service.domain.history import stamp_history
from context_service.domain.history_pages import DEFAULT_RETENTION
from context_service.domain.model import ChangeRecord, Located, Neighbourhood, Story, StoryGraph
from context_service.domain.mutations import (
    CONTENT_REVISION,
    HISTORY_SEQ,
    STORY_EDGES,
    CommitResult,
    Mutation,
    NodeKind,
    WriteBatch,
)
from context_service.domain.snapshot import StorySubgraph
from context_service.ports.errors import StoryExists

# A story's load shows its own nodes' neighbourhoods, never what hangs above the story node (its epic).
STORY = NodeKind.STORY.value


class InMemoryGraph:
    """Graph store held in process; every port method is atomic (no await inside a mutation)."""

    def __init__(self, *, history_retention: int = DEFAULT_RETENTION) -> None:
        self._graph = PropertyGraph()
        self._history: dict[str, list[ChangeRecord]] = {}
        self._retention = history_retention
        self._requests: dict[str, dict[str, CommitResult]] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        """Nothing to open."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Nothing to close."""

    async def get_story(self, story_id: str) -> Story | None:
        """The story node, or None."""
        props = self._graph.node((NodeKind.STORY.value, story_id))
        return None if props is None else story_of(props)

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """The story's content revision, and its load unless that is `seen`; (None, None): no story."""
        props = self._graph.node((NodeKind.STORY.value, story_id))
        if props is None:
            return None, None
        revision = int(props.get(CONTENT_REVISION, 0))
        return revision, None if revision == seen else story_graph_of(self._graph, story_id)

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """The story's live neighbourhood."""
        return story_graph_of(self._graph, story_id)

    async def locate(self, nodes: Iterable[tuple[NodeKind, str]]) -> Mapping[tuple[NodeKind, str], Located]:
        """(kind, id) -> owning story and status, for existing nodes."""
        found: dict[tuple[NodeKind, str], Located] = {}
        for kind, node_id in nodes:
            props = self._graph.node((kind.value, node_id))
            if props is not None:
                found[(kind, node_id)] = Located(str(props.get("story_id", "")), str(props.get("status", "")))
        return found

    async def neighbourhood(self, label: str, node_id: str, depth: int, limit: int) -> Neighbourhood | None:
        """Bounded breadth-first exploration, ignoring soft-deleted nodes."""
        return neighbourhood_of(self._graph, (label, node_id), depth, limit)

    async def history(
        self, story_id: str, *, entity_id: str = "", limit: int = 100, before_seq: int = 0
    ) -> list[ChangeRecord]:
        """Change records newest first, optionally one entity's, optionally below a seq."""
        found: list[ChangeRecord] = []
        for record in reversed(self._history.get(story_id, [])):
            if len(found) >= limit:
                break
            if (not before_seq or record.seq < before_seq) and (
                not entity_id or record.entity_id == entity_id
            ):
                found.append(record)
        return found

    async def export_story(self, story_id: str) -> StorySubgraph | None:
        """The story's whole stored subgraph and history."""
        return subgraph_of(self._graph, story_id, self._history.get(story_id, ()))

    async def import_story(self, subgraph: StorySubgraph, *, replace: bool) -> None:
        """Replace the story's subgraph and history with the snapshot's, or change nothing."""
        story_id = subgraph.story_id
        async with self._lock:
            if self._graph.node((NodeKind.STORY.value, story_id)) is not None and not replace:
                raise StoryExists(story_id)
            check_owners(self._graph, subgraph)
            old = self._graph.node((NodeKind.STORY.value, story_id)) or {}
            last = subgraph.history[-1].seq if subgraph.history else 0
            hidden = {
                CONTENT_REVISION: int(old.get(CONTENT_REVISION, 0)) + 1,  # caches see a new story
                HISTORY_SEQ: max(int(old.get(HISTORY_SEQ, 0)), last),  # a seq is never handed out twice
            }
            tx = Transaction(self._graph)
            try:
                self._bump_revisions(tx, self._story_neighbours(story_id) - {story_id, ""})
                remove_story(tx, self._graph, story_id)
                write_subgraph(tx, self._graph, subgraph, hidden)
            except BaseException:
                tx.rollback()
                raise
            self._history[story_id] = list(subgraph.history)
            self._requests.pop(story_id, None)

    def _story_neighbours(self, story_id: str) -> set[str]:
        """The stories owning a neighbour of any of the story's nodes (an import cuts those edges)."""
        found: set[str] = set()
        for key in members(self._graph, (NodeKind.STORY.value, story_id)):
            found |= self._graph.neighbour_owners(key, skip_label=STORY)
        return found

    async def committed(self, story_id: str, request_id: str) -> CommitResult | None:
        """The recorded result of an applied request, or None."""
        done = self._requests.get(story_id, {}).get(request_id)
        return None if done is None else replace(done, replayed=True)

    async def commit(self, batch: WriteBatch) -> CommitResult:
        """Apply the whole batch or nothing."""
        async with self._lock:
            done = await self.committed(batch.story_id, batch.request_id) if batch.request_id else None
            if done is not None:
                return done
            tx = Transaction(self._graph)
            try:
                result, history = self._apply(tx, batch)
            except BaseException:
                tx.rollback()
                raise
            records = self._history.setdefault(batch.story_id, [])
            records.extend(history)
            del records[: max(0, len(records) - self._retention)]  # retention: oldest first
            if batch.request_id:
                self._requests.setdefault(batch.story_id, {})[batch.request_id] = result
            return result

    def _apply(self, tx: Transaction, batch: WriteBatch) -> tuple[CommitResult, tuple[ChangeRecord, ...]]:
        story_key: NodeKey = (NodeKind.STORY.value, batch.story_id)
        self._check_rules(batch, story_key)
        written: list[NodeKey] = [(m.kind.value, m.node_id) for m in batch.mutations]
        before = {key: self._graph.node(key) for key in written}
        touched = self._touched_stories(batch)
        for mutation in batch.mutations:
            self._merge(tx, batch.story_id, mutation)
        self._bump_revisions(tx, touched)
        story = self._graph.node(story_key) or {}
        version = int(story.get("context_version", 0)) + (1 if batch.bump_version else 0)
        if batch.story_id:
            story = {
                **story,
                "context_version": version,
                CONTENT_REVISION: int(story.get(CONTENT_REVISION, 0)) + 1,
            }
        after = {key: story if key == story_key else self._graph.node(key) for key in written}
        last_seq = int(story.get(HISTORY_SEQ, 0))
        history = stamp_history(batch, before, after, version=version, last_seq=last_seq)
        if batch.story_id:
            tx.set_node(story_key, {**story, HISTORY_SEQ: last_seq + len(history)})
        phase = str(story.get("current_phase", ""))
        return CommitResult(version, phase, changed=batch.changed, event_key=batch.event_key), history

    def _touched_stories(self, batch: WriteBatch) -> set[str]:
        """Other stories whose loads the batch changes: owners of its nodes' neighbours and link targets."""
        found: set[str] = set()
        for m in batch.mutations:
            if m.kind is not NodeKind.STORY:
                found |= self._graph.neighbour_owners((m.kind.value, m.node_id), skip_label=STORY)
            for link in m.links:
                target = self._graph.node((link.target_kind.value, link.target_id)) or {}
                found.add(str(target.get("story_id", "")))
        return found - {batch.story_id, ""}

    def _bump_revisions(self, tx: Transaction, stories: Iterable[str]) -> None:
        """A new content revision for each story, in the writer's transaction: their cached reads go stale."""
        for story_id in sorted(stories):
            key: NodeKey = (NodeKind.STORY.value, story_id)
            props = self._graph.node(key)
            if props is not None:
                tx.set_node(key, {**props, CONTENT_REVISION: int(props.get(CONTENT_REVISION, 0)) + 1})

    def _check_rules(self, batch: WriteBatch, story_key: NodeKey) -> None:
        """The commit rules on what the batch touches, before anything is written."""
        touched = {(m.kind.value, m.node_id) for m in batch.mutations}
        touched |= {(link.target_kind.value, link.target_id) for m in batch.mutations for link in m.links}
        owners = {k: str(p.get("story_id", "")) for k in touched if (p := self._graph.node(k)) is not None}
        story = self._graph.node(story_key) if batch.story_id else None
        check_commit(batch, None if story is None else str(story.get("current_phase", "")), owners)

    def _merge(self, tx: Transaction, story_id: str, m: Mutation) -> None:
        key: NodeKey = (m.kind.value, m.node_id)
        existing = self._graph.node(key)
        tx.set_node(key, m.applied_to(existing))
        if m.kind in STORY_EDGES:
            tx.merge_edge(Edge((NodeKind.STORY.value, story_id), STORY_EDGES[m.kind], key))
        for kind in m.replace_links:
            for edge in self._graph.out_edges(key, kind.value):
                tx.remove_edge(edge)
        for link in m.links:
            target: NodeKey = (link.target_kind.value, link.target_id)
            src, dst = (target, key) if link.incoming else (key, target)
            tx.merge_edge(Edge(src, link.kind.value, dst))
        if m.plan_edge is not None:
            self._merge_plan_edge(tx, story_id, key, m.plan_edge)

    def _merge_plan_edge(
        self, tx: Transaction, story_id: str, task: NodeKey, origin: Mapping[str, object]
    ) -> None:
        """Why-this-task-exists metadata on (PlanVersion)-[:HAS_TASK]->(Task), else on the story's edge."""
        plan_id = str((self._graph.node(task) or {}).get("plan_id", ""))
        plan_key: NodeKey = (NodeKind.PLAN.value, plan_id)
        plan = self._graph.node(plan_key) if plan_id else None
        own_plan = plan is not None and plan.get("story_id") == story_id  # never link into another story
        src = plan_key if own_plan else (NodeKind.STORY.value, story_id)
        tx.merge_edge(Edge(src, "HAS_TASK", task), dict(origin))
