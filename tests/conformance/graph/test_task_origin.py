"""TaskOrigin: "why this task exists", read from the plan's HAS_TASK edge, else from the story's."""

from __future__ import annotations

from context_service.domain.model import TaskOrigin
from context_service.domain.mutations import NodeKind
from tests.conformance.graph.builders import (
    ORIGIN,
    OTHER_STORY,
    STORY,
    given,
    given_story,
    plan,
    task,
)
from tests.conformance.graph.observe import GraphStore, around, edges_of, loaded

LATER = {"decided_by": "council", "decision_reason": "re-planned", "source": "replanning"}


async def origin_of(graph: GraphStore, task_id: str) -> TaskOrigin | None:
    """The origin of a live task of STORY."""
    found = (await loaded(graph, STORY)).task(task_id)
    assert found is not None
    return found.origin


async def test_task_without_origin_metadata_has_no_origin(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"))

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-1"))

    # Assert
    assert await origin_of(graph, "T-1") is None


async def test_origin_is_read_from_the_plans_has_task_edge(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"))

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-1", origin=ORIGIN))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**ORIGIN)


async def test_origin_written_with_its_plan_in_one_batch_is_read(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, plan("P-1"), task("T-1", plan_id="P-1", origin=ORIGIN))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**ORIGIN)


async def test_origin_with_some_fields_leaves_the_others_empty(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"))

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-1", origin={"decided_by": "planner"}))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(decided_by="planner")


async def test_a_later_origin_merges_into_the_edge_properties(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"), task("T-1", plan_id="P-1", origin=ORIGIN))

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-1", origin={"decision_reason": "re-planned"}))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**{**ORIGIN, "decision_reason": "re-planned"})


async def test_origin_falls_back_to_the_story_edge_when_the_plan_is_missing(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-404", origin=ORIGIN))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**ORIGIN)


async def test_origin_falls_back_to_the_story_edge_when_the_plan_is_another_storys(
    graph: GraphStore,
) -> None:
    # Arrange
    await given_story(graph, OTHER_STORY, plan("P-9", OTHER_STORY))
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-9", origin=ORIGIN))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**ORIGIN)


async def test_a_plan_of_another_story_gets_no_edge_to_the_task(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, OTHER_STORY, plan("P-9", OTHER_STORY))
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-9", origin=ORIGIN))

    # Assert
    assert edges_of(await around(graph, NodeKind.PLAN.value, "P-9"), "HAS_TASK") == []


async def test_origin_on_the_plan_edge_wins_over_the_story_edge(graph: GraphStore) -> None:
    # Arrange: the first origin lands on the story's edge while the plan does not exist yet
    await given_story(graph, STORY, task("T-1", plan_id="P-1", origin=ORIGIN))
    await given(graph, STORY, plan("P-1"))

    # Act
    await given(graph, STORY, task("T-1", plan_id="P-1", origin=LATER))

    # Assert
    assert await origin_of(graph, "T-1") == TaskOrigin(**LATER)
