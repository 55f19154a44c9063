"""neighbourhood limits: at most `limit` neighbours, nearest first, `truncated` when some were left out."""

from __future__ import annotations

import pytest

from context_service.domain.mutations import NodeKind
from tests.conformance.graph.builders import given, project
from tests.conformance.graph.observe import GraphStore, ids

PROJECT = NodeKind.PROJECT.value


async def hub(graph: GraphStore) -> list[tuple[str, str]]:
    """Project HUB related to L0..L7, each Li related to Mi; the (label, id) of the eight L projects."""
    await given(graph, "", *(project(f"M{i}") for i in range(8)))
    await given(graph, "", *(project(f"L{i}", f"M{i}") for i in range(8)))
    await given(graph, "", project("HUB", *(f"L{i}" for i in range(8))))
    return [(PROJECT, f"L{i}") for i in range(8)]


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_limit_caps_the_neighbours_and_marks_the_result_truncated(
    graph: GraphStore, limit: int
) -> None:
    # Arrange
    nearest = await hub(graph)

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 1, limit)

    # Assert
    assert found is not None
    assert (len(found.neighbours), set(ids(found)) <= set(nearest), found.truncated) == (limit, True, True)


async def test_a_capped_neighbourhood_keeps_the_nearer_neighbours(graph: GraphStore) -> None:
    # Arrange
    nearest = await hub(graph)

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 2, 8)

    # Assert
    assert found is not None
    assert (ids(found), found.truncated) == (nearest, True)


async def test_links_of_a_capped_neighbourhood_join_only_returned_nodes(graph: GraphStore) -> None:
    # Arrange
    await hub(graph)

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 2, 3)

    # Assert
    assert found is not None
    returned = {n.node_id for n in found.neighbours} | {"HUB"}
    assert all({link.src_id, link.dst_id} <= returned for link in found.links)


@pytest.mark.parametrize("limit", [8, 9, 100])
async def test_a_neighbourhood_within_the_limit_is_complete(graph: GraphStore, limit: int) -> None:
    # Arrange
    nearest = await hub(graph)

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 1, limit)

    # Assert
    assert found is not None
    assert (ids(found), found.truncated) == (nearest, False)


async def test_a_capped_level_keeps_its_first_nodes_by_label_and_id(graph: GraphStore) -> None:
    # Arrange
    nearest = await hub(graph)

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 1, 3)

    # Assert
    assert found is not None
    assert ids(found) == nearest[:3]


async def test_a_cap_ranks_by_hops_before_ids_whatever_order_the_engine_expands_paths(
    graph: GraphStore,
) -> None:
    # Arrange: far nodes sort first by id, and a depth-first expansion would meet them first
    await given(graph, "", *(project(f"A{i}") for i in range(4)))
    await given(graph, "", *(project(f"Z{i}", f"A{i}") for i in range(4)))
    await given(graph, "", project("HUB", *(f"Z{i}" for i in range(4))))

    # Act
    found = await graph.neighbourhood(PROJECT, "HUB", 3, 5)

    # Assert
    assert found is not None
    near = [(PROJECT, f"Z{i}") for i in range(4)]
    assert (ids(found), found.truncated) == ([(PROJECT, "A0"), *near], True)
