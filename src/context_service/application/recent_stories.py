"""The story loads this process made last, kept for the next use of the same story at the same revision.

A kept load is reused only after the store confirms, in the round trip that would otherwise bring the whole
load, that the story is still at the content revision the load was made at. Every write that changes what a
story's load shows bumps that revision atomically with the write (the response cache relies on the same
rule), so a confirmed kept load is the load the store would send. An agent's turn reads a story's context and
then writes to it: the write's load, and a second question about the same story, cost one small read.

Calls that load the same story at once share one round trip, but only one sent after each of them arrived
(`CoalescedReads`): a write's load is then as current as one of its own. Many writers to one story share
their loads instead of each moving the whole story over the wire.

Loads that show a node no story owns (left by the legacy service) are never kept: a write to such a node bumps
no revision. The kept loads are bounded by their entities (about 1 KB each), least recently used first out. In
front of a store that keeps its loads itself (a Cypher store, which also carries them over its own commits),
the bound is 0: the loads are then only shared.
"""

from __future__ import annotations

from cachetools import LRUCache

from context_service.application.concurrent_reads import CoalescedReads
from context_service.domain.model import Story, StoryGraph
from context_service.ports.graph import NO_REVISION, StoryLoads

KEPT_ENTITIES = 20_000  # tasks, decisions, edges, plans, milestones and transitions over all kept loads


def _size(graph: StoryGraph) -> int:
    parts = (
        graph.tasks,
        graph.decisions,
        graph.decision_edges,
        graph.plans,
        graph.milestones,
        graph.transitions,
    )
    return 1 + sum(len(part) for part in parts)


class RecentStories:
    """StoryLoads over another, answering from the loads kept here while their story has not moved."""

    def __init__(self, loads: StoryLoads, *, max_entities: int = KEPT_ENTITIES) -> None:
        self._loads = loads
        self._kept: LRUCache[str, StoryGraph] = LRUCache(max_entities, getsizeof=_size)
        self._shared = CoalescedReads(self._load_if_changed)  # per (story id, revision asked with)

    async def get_story(self, story_id: str) -> Story | None:
        """The story node, or None (from the store)."""
        return await self._loads.get_story(story_id)

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """The story's load as the store would send it now; None if there is no story."""
        return (await self.load_if_changed(story_id, NO_REVISION))[1]

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """The story's content revision and, unless it is `seen`, its load: the kept one if the story is
        still at its revision, else the new one from the store (kept from now on). One round trip."""
        kept = self._kept.get(story_id)
        asked = seen if kept is None else kept.story.content_revision
        revision, graph = await self._shared.get((story_id, asked))
        if revision is None:
            self._forget(story_id)
            return None, None
        if graph is None:
            if kept is None:
                return revision, None  # still at `seen`, which the caller holds
            graph = kept
            self._kept.get(story_id)  # used now: last out
        else:
            self._keep(graph)
        return revision, None if revision == seen else graph

    async def _load_if_changed(self, asked: tuple[str, int]) -> tuple[int | None, StoryGraph | None]:
        return await self._loads.load_if_changed(*asked)

    def _keep(self, graph: StoryGraph) -> None:
        story_id = graph.story.story_id
        self._forget(story_id)
        if graph.cacheable and _size(graph) <= self._kept.maxsize:
            self._kept[story_id] = graph

    def _forget(self, story_id: str) -> None:
        self._kept.pop(story_id, None)
