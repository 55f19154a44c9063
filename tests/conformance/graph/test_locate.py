"""locate: owner story and status of several nodes of several kinds in one call."""

from __future__ import annotations

from context_service.domain.model import Located
from context_service.domain.mutations import NodeKind
from tests.conformance.graph.builders import (
    OTHER_STORY,
    STORY,
    decision,
    given,
    given_story,
    milestone,
    plan,
    project,
    soft_delete,
    task,
)
from tests.conformance.graph.observe import GraphStore


async def test_locate_finds_nodes_of_several_kinds_and_stories_in_one_call(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), decision("D-1"), plan("P-1"), milestone("M-1"))
    await given_story(graph, OTHER_STORY, task("T-2", OTHER_STORY))
    wanted = [
        (NodeKind.STORY, STORY),
        (NodeKind.TASK, "T-1"),
        (NodeKind.TASK, "T-2"),
        (NodeKind.DECISION, "D-1"),
        (NodeKind.PLAN, "P-1"),
        (NodeKind.MILESTONE, "M-1"),
    ]

    # Act
    found = await graph.locate(wanted)

    # Assert
    assert dict(found) == {
        (NodeKind.STORY, STORY): Located(STORY, "ACTIVE"),
        (NodeKind.TASK, "T-1"): Located(STORY, "PENDING"),
        (NodeKind.TASK, "T-2"): Located(OTHER_STORY, "PENDING"),
        (NodeKind.DECISION, "D-1"): Located(STORY, "ACCEPTED"),
        (NodeKind.PLAN, "P-1"): Located(STORY, "DRAFT"),
        (NodeKind.MILESTONE, "M-1"): Located(STORY, ""),
    }


async def test_locate_leaves_missing_nodes_out(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    found = await graph.locate([(NodeKind.STORY, "S-404"), (NodeKind.TASK, "T-1"), (NodeKind.TASK, "T-404")])

    # Assert
    assert dict(found) == {(NodeKind.TASK, "T-1"): Located(STORY, "PENDING")}


async def test_locate_matches_the_kind_as_well_as_the_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("X-1"))

    # Act
    found = await graph.locate([(NodeKind.DECISION, "X-1"), (NodeKind.PLAN, "X-1")])

    # Assert
    assert dict(found) == {}


async def test_locate_reports_a_soft_deleted_node_with_its_deleted_status(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))
    await given(graph, STORY, soft_delete(NodeKind.TASK, "T-1"))

    # Act
    found = await graph.locate([(NodeKind.TASK, "T-1")])

    # Assert
    assert dict(found) == {(NodeKind.TASK, "T-1"): Located(STORY, "DELETED")}


async def test_a_node_outside_any_story_is_located_with_no_owner(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"))

    # Act
    found = await graph.locate([(NodeKind.PROJECT, "PR-1")])

    # Assert
    assert dict(found) == {(NodeKind.PROJECT, "PR-1"): Located("", "ACTIVE")}


async def test_locate_of_no_nodes_is_empty(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    found = await graph.locate([])

    # Assert
    assert dict(found) == {}


async def test_locate_accepts_a_one_shot_generator_of_nodes(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), decision("D-1"))

    # Act
    found = await graph.locate(
        (kind, node_id) for kind in (NodeKind.TASK, NodeKind.DECISION) for node_id in ("T-1", "D-1")
    )

    # Assert
    assert dict(found) == {
        (NodeKind.TASK, "T-1"): Located(STORY, "PENDING"),
        (NodeKind.DECISION, "D-1"): Located(STORY, "ACCEPTED"),
    }
