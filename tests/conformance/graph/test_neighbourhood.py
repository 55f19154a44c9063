"""neighbourhood: bounded depth both ways, live nodes only, capped size, edge properties, labels."""

from __future__ import annotations

import pytest

from context_service.domain.model import GraphEntity, GraphLink
from context_service.domain.mutations import LinkKind, NodeKind
from tests.conformance.graph.builders import (
    NOW,
    NOW_MS,
    ORIGIN,
    OTHER_STORY,
    STORY,
    decision,
    epic,
    given,
    given_story,
    in_epic,
    plan,
    project,
    soft_delete,
    story,
    task,
)
from tests.conformance.graph.observe import GraphStore, around, edges, ids

PROJECT, EPIC, TASK, DECISION = (
    k.value for k in (NodeKind.PROJECT, NodeKind.EPIC, NodeKind.TASK, NodeKind.DECISION)
)
STORY_LABEL = NodeKind.STORY.value


async def chain(graph: GraphStore) -> None:
    """PR-1 -> E-1 -> S-1 -> {T-1, D-1}, T-1 -> D-1, and D-1 -> D-9 of another story (four hops from PR-1)."""
    await given(graph, "", project("PR-1"), epic("E-1", "PR-1"))
    await given_story(graph, OTHER_STORY, decision("D-9", OTHER_STORY))
    await given(graph, STORY, story(STORY), in_epic(STORY, "E-1"))
    await given(
        graph,
        STORY,
        task("T-1"),
        decision("D-1", influences=("T-1",), relations=((LinkKind.SUPERSEDES, "D-9"),)),
    )


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (1, [(EPIC, "E-1")]),
        (2, [(EPIC, "E-1"), (STORY_LABEL, STORY)]),
        (3, [(DECISION, "D-1"), (EPIC, "E-1"), (STORY_LABEL, STORY), (TASK, "T-1")]),
    ],
)
async def test_neighbours_lie_within_depth_hops_ordered_by_label_and_id(
    graph: GraphStore, depth: int, expected: list[tuple[str, str]]
) -> None:
    # Arrange
    await chain(graph)

    # Act
    found = await around(graph, PROJECT, "PR-1", depth)

    # Assert
    assert ids(found) == expected


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (1, [(DECISION, "D-1"), (STORY_LABEL, STORY)]),
        (2, [(DECISION, "D-1"), (DECISION, "D-9"), (EPIC, "E-1"), (STORY_LABEL, STORY)]),
        (
            3,
            [
                (DECISION, "D-1"),
                (DECISION, "D-9"),
                (EPIC, "E-1"),
                (PROJECT, "PR-1"),
                (STORY_LABEL, STORY),
                (STORY_LABEL, OTHER_STORY),
            ],
        ),
    ],
)
async def test_neighbourhood_follows_edges_in_both_directions(
    graph: GraphStore, depth: int, expected: list[tuple[str, str]]
) -> None:
    # Arrange
    await chain(graph)

    # Act
    found = await around(graph, TASK, "T-1", depth)

    # Assert
    assert ids(found) == expected


async def test_links_are_every_edge_among_the_nodes_found(graph: GraphStore) -> None:
    # Arrange
    await chain(graph)

    # Act
    found = await around(graph, PROJECT, "PR-1", 3)

    # Assert
    assert edges(found) == [
        ("E-1", "CONTAINS_STORY", STORY),
        ("PR-1", "HAS_EPIC", "E-1"),
        (STORY, "HAS_DECISION", "D-1"),
        (STORY, "HAS_TASK", "T-1"),
        ("T-1", "INFLUENCED_BY", "D-1"),
    ]


async def test_the_start_node_carries_every_property(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1", priority=2))

    # Act
    found = await around(graph, TASK, "T-1")

    # Assert
    assert found.node == GraphEntity(
        "T-1",
        TASK,
        {
            "id": "T-1",
            "task_id": "T-1",
            "story_id": STORY,
            "status": "PENDING",
            "created_at": NOW,
            "updated_at": NOW,
            "title": "Task T-1",
            "description": "Do T-1",
            "role": "developer",
            "priority": 2,
            "estimated_hours": 0,
            "plan_id": "",
            "type": "",
        },
    )


async def test_neighbours_carry_every_property(graph: GraphStore) -> None:
    # Arrange
    await chain(graph)

    # Act
    found = await around(graph, PROJECT, "PR-1")

    # Assert
    assert found.neighbours == (
        GraphEntity(
            "E-1",
            EPIC,
            {
                "id": "E-1",
                "epic_id": "E-1",
                "project_id": "PR-1",
                "title": "Epic E-1",
                "description": "",
                "status": "ACTIVE",
                "created_at_ms": NOW_MS,
            },
        ),
    )


async def test_edge_properties_come_with_the_links(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"))
    await given(graph, STORY, task("T-1", plan_id="P-1", origin=ORIGIN))

    # Act
    found = await around(graph, NodeKind.PLAN.value, "P-1")

    # Assert
    assert found.links == (
        GraphLink("P-1", "T-1", "HAS_TASK", ORIGIN),
        GraphLink(STORY, "P-1", "HAS_PLAN", {}),
        GraphLink(STORY, "T-1", "HAS_TASK", {}),
    )


async def test_neighbourhood_of_an_unknown_node_is_none(graph: GraphStore) -> None:
    # Arrange
    await chain(graph)

    # Act
    found = await graph.neighbourhood(TASK, "T-404", 2, 100)

    # Assert
    assert found is None


async def test_neighbourhood_of_a_soft_deleted_node_is_none(graph: GraphStore) -> None:
    # Arrange
    await chain(graph)
    await given(graph, STORY, soft_delete(NodeKind.TASK, "T-1"))

    # Act
    found = await graph.neighbourhood(TASK, "T-1", 2, 100)

    # Assert
    assert found is None


async def test_soft_deleted_nodes_are_neither_listed_nor_traversed(graph: GraphStore) -> None:
    # Arrange
    await chain(graph)

    # Act
    await given(graph, STORY, soft_delete(NodeKind.STORY, STORY))

    # Assert
    found = await around(graph, PROJECT, "PR-1", 3)
    assert (ids(found), edges(found)) == ([(EPIC, "E-1")], [("PR-1", "HAS_EPIC", "E-1")])


async def test_the_label_picks_the_node_when_two_labels_share_an_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-2"))

    # Act
    await given(graph, STORY, task("X-1", deps=("T-2",)), decision("X-1"))

    # Assert
    as_task, as_decision = await around(graph, TASK, "X-1"), await around(graph, DECISION, "X-1")
    assert [(n.node.label, n.node.title, ids(n)) for n in (as_task, as_decision)] == [
        (TASK, "Task X-1", [(STORY_LABEL, STORY), (TASK, "T-2")]),
        (DECISION, "Decision X-1", [(STORY_LABEL, STORY)]),
    ]


async def test_an_id_under_another_label_is_not_found(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("X-1"))

    # Act
    found = await graph.neighbourhood(EPIC, "X-1", 2, 100)

    # Assert
    assert found is None
