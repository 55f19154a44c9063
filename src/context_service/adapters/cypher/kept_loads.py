"""The property graphs of the stories a Cypher store loaded last, each with its content revision.

A load is kept so that the store's own plain commits can carry it forward (`property_graph.advance`): the read
after such a write asks the engine whether the story is still at the revision the store wrote, and if so
answers from the kept graph without loading the story again. Only loads that may be cached are kept (a load
showing a node no story owns can change without a new revision). Memory is bounded by the kept nodes.
"""

from __future__ import annotations

from typing import NamedTuple

from cachetools import LRUCache

from context_service.adapters.property_graph.store import PropertyGraph
from context_service.adapters.property_graph.views import Projection

# Over all kept loads. A node with its share of the edges takes about 2.5 KB (the large bench story: 301 nodes
# and 599 edges, 0.77 MB), so the bound is about 13 MB: the stories being written now, not every story read.
KEPT_NODES = 5_000


class KeptLoad(NamedTuple):
    """A story's load at the content revision it shows: its property graph and its projection."""

    revision: int
    graph: PropertyGraph
    projection: Projection


class KeptLoads:
    """Story id -> its latest kept load; least recently used out first (a cachetools LRU sized in nodes)."""

    def __init__(self, *, max_nodes: int = KEPT_NODES) -> None:
        self._kept: LRUCache[str, KeptLoad] = LRUCache(max_nodes, getsizeof=_nodes)

    def get(self, story_id: str) -> KeptLoad | None:
        """The kept load, or None."""
        return self._kept.get(story_id)

    def keep(self, story_id: str, revision: int, graph: PropertyGraph, projection: Projection) -> None:
        """Keep this load in place of any other of the story (none when it alone is over the bound)."""
        self.drop(story_id)
        load = KeptLoad(revision, graph, projection)
        if _nodes(load) <= self._kept.maxsize:
            self._kept[story_id] = load

    def drop(self, story_id: str) -> None:
        """Forget the story's load."""
        self._kept.pop(story_id, None)


def _nodes(load: KeptLoad) -> int:
    return len(load.graph.nodes)
