"""A story's load is cacheable unless it shows a node no story owns (whose writes bump no revision)."""

from __future__ import annotations

from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph
from context_service.adapters.property_graph.views import story_graph_of

STORY: NodeKey = ("Story", "S-1")
TASK: NodeKey = ("Task", "T-1")


def graph_with(neighbour: dict[str, str]) -> PropertyGraph:
    """Story S-1 with task T-1, which depends on task X-1 with the given properties."""
    graph = PropertyGraph()
    graph.nodes[STORY] = {"id": "S-1", "story_id": "S-1", "title": "s"}
    graph.nodes[TASK] = {"id": "T-1", "story_id": "S-1", "title": "t", "status": "PENDING"}
    graph.nodes[("Task", "X-1")] = {"id": "X-1", "title": "x", "status": "PENDING", **neighbour}
    graph.put_edge(Edge(STORY, "HAS_TASK", TASK), {})
    graph.put_edge(Edge(TASK, "DEPENDS_ON", ("Task", "X-1")), {})
    return graph


def test_a_story_whose_neighbours_all_belong_to_stories_is_cacheable() -> None:
    loaded = story_graph_of(graph_with({"story_id": "S-2"}), "S-1")

    assert loaded is not None
    assert loaded.cacheable


def test_a_story_next_to_a_node_no_story_owns_is_not_cacheable() -> None:
    loaded = story_graph_of(graph_with({}), "S-1")

    assert loaded is not None
    assert not loaded.cacheable
    assert loaded.task("T-1") is not None  # it still loads as usual
