"""The Cypher stores' kept loads: one per story, bounded by their nodes, least recently kept first out."""

from __future__ import annotations

from context_service.adapters.cypher.kept_loads import KeptLoads
from context_service.adapters.property_graph.store import PropertyGraph
from context_service.adapters.property_graph.views import Projection
from context_service.domain.model import Story, StoryGraph

PROJECTED = Projection(StoryGraph(Story("S", "a story")), {})


def graph_of(nodes: int) -> PropertyGraph:
    graph = PropertyGraph()
    graph.nodes = {("Task", str(n)): {"id": str(n)} for n in range(nodes)}
    return graph


def test_a_story_keeps_only_its_latest_load() -> None:
    # Arrange
    kept = KeptLoads(max_nodes=10)
    kept.keep("S-1", 1, graph_of(4), PROJECTED)
    latest = graph_of(5)

    # Act
    kept.keep("S-1", 2, latest, PROJECTED)

    # Assert: the first load's nodes no longer count against the bound
    assert kept.get("S-1") == (2, latest, PROJECTED)
    kept.keep("S-2", 1, graph_of(5), PROJECTED)
    assert kept.get("S-1") is not None


def test_loads_beyond_the_bound_push_out_the_least_recently_kept() -> None:
    # Arrange
    kept = KeptLoads(max_nodes=10)
    kept.keep("S-1", 1, graph_of(4), PROJECTED)
    kept.keep("S-2", 1, graph_of(4), PROJECTED)

    # Act
    kept.keep("S-3", 1, graph_of(4), PROJECTED)

    # Assert
    assert kept.get("S-1") is None
    assert kept.get("S-2") is not None
    assert kept.get("S-3") is not None


def test_a_load_larger_than_the_bound_is_not_kept_and_a_dropped_story_is_forgotten() -> None:
    # Arrange
    kept = KeptLoads(max_nodes=10)
    kept.keep("S-1", 1, graph_of(4), PROJECTED)

    # Act
    kept.keep("S-2", 1, graph_of(11), PROJECTED)
    kept.drop("S-1")

    # Assert
    assert kept.get("S-2") is None
    assert kept.get("S-1") is None
    kept.keep("S-3", 1, graph_of(10), PROJECTED)  # the whole bound is free again
    assert kept.get("S-3") is not None
