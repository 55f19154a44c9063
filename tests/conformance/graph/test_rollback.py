"""Atomic batches: a batch that fails anywhere leaves nothing behind, and the port error says why."""

from __future__ import annotations

import pytest

from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.ports.errors import DanglingLink, OwnershipConflict, PreconditionFailed, StoryMissing
from tests.conformance.graph.builders import (
    ORIGIN,
    OTHER_STORY,
    STORY,
    batch,
    decision,
    epic,
    given,
    given_story,
    project,
    record,
    story,
    task,
)
from tests.conformance.graph.observe import GraphStore, snapshot

NEW_TASK = (NodeKind.TASK, "T-3")


async def seeded(graph: GraphStore) -> None:
    """STORY at version 1 (T-2 depends on T-1, D-1 influences T-1); OTHER_STORY owns T-9 and D-9."""
    await given_story(
        graph, STORY, task("T-1"), task("T-2", deps=("T-1",)), decision("D-1", influences=("T-1",))
    )
    await graph.commit(
        batch(STORY, task("T-1", status="IN_PROGRESS"), bump_version=True, history=(record("T-1"),))
    )
    await given_story(graph, OTHER_STORY, task("T-9", OTHER_STORY), decision("D-9", OTHER_STORY))


def doomed(third: Mutation, **options: object) -> WriteBatch:
    """Two mutations that would change STORY, then `third`, which the adapter must refuse."""
    return batch(
        STORY,
        task("T-2", status="DONE", role="qa"),  # updates a node and drops its DEPENDS_ON edge
        task("T-3", deps=("T-1",), origin=ORIGIN),  # a new node, its structural edge, a link, edge properties
        third,
        bump_version=True,
        history=(record("T-2"), record("T-3", operation="CREATE")),
        request_id="r-doomed",
        **options,
    )


async def test_ownership_conflict_names_the_kind_id_and_owning_story(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act
    with pytest.raises(OwnershipConflict) as caught:
        await graph.commit(doomed(task("T-9")))

    # Assert
    assert (caught.value.kind, caught.value.node_id, caught.value.owner) == ("Task", "T-9", OTHER_STORY)


async def test_merging_a_decision_of_another_story_is_an_ownership_conflict(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act
    with pytest.raises(OwnershipConflict) as caught:
        await graph.commit(doomed(decision("D-9")))

    # Assert
    assert (caught.value.kind, caught.value.node_id, caught.value.owner) == ("Decision", "D-9", OTHER_STORY)


async def test_a_batch_failing_on_ownership_leaves_the_graph_unchanged(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)
    before = await snapshot(graph, STORY, OTHER_STORY)

    # Act
    with pytest.raises(OwnershipConflict):
        await graph.commit(doomed(task("T-9")))

    # Assert
    assert (await snapshot(graph, STORY, OTHER_STORY), await graph.locate([NEW_TASK])) == (before, {})


async def test_precondition_failed_reports_the_actual_phase(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act
    with pytest.raises(PreconditionFailed) as caught:
        await graph.commit(doomed(task("T-4"), expect_phase="BUILD"))

    # Assert
    assert (caught.value.actual, str(caught.value)) == (
        "DESIGN",
        f"story '{STORY}' is in phase DESIGN, not BUILD",
    )


async def test_a_batch_failing_its_phase_precondition_leaves_the_graph_unchanged(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)
    before = await snapshot(graph, STORY, OTHER_STORY)

    # Act
    with pytest.raises(PreconditionFailed):
        await graph.commit(doomed(task("T-4"), expect_phase="BUILD"))

    # Assert
    assert (await snapshot(graph, STORY, OTHER_STORY), await graph.locate([NEW_TASK])) == (before, {})


async def test_a_batch_on_a_missing_story_raises_story_missing(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act / Assert
    with pytest.raises(StoryMissing, match="S-404"):
        await graph.commit(batch("S-404", task("T-7", "S-404"), task("T-8", "S-404"), bump_version=True))


async def test_a_batch_on_a_missing_story_creates_nothing(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)
    before = await snapshot(graph, STORY, OTHER_STORY)

    # Act
    with pytest.raises(StoryMissing):
        await graph.commit(batch("S-404", task("T-7", "S-404"), task("T-8", "S-404"), bump_version=True))

    # Assert
    found = await graph.locate([(NodeKind.STORY, "S-404"), (NodeKind.TASK, "T-7"), (NodeKind.TASK, "T-8")])
    assert (await snapshot(graph, STORY, OTHER_STORY), found) == (before, {})


async def test_a_batch_linking_to_a_missing_node_raises_dangling_link_naming_it(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act
    with pytest.raises(DanglingLink) as caught:
        await graph.commit(doomed(task("T-4", deps=("T-404",))))

    # Assert
    assert (caught.value.kind, caught.value.node_id, str(caught.value)) == (
        "Task",
        "T-404",
        "linked task 'T-404' not found",
    )


async def test_a_batch_failing_on_a_dangling_link_leaves_the_graph_unchanged(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)
    before = await snapshot(graph, STORY, OTHER_STORY)

    # Act
    with pytest.raises(DanglingLink):
        await graph.commit(doomed(task("T-4", deps=("T-404",))))

    # Assert
    found = await graph.locate([NEW_TASK, (NodeKind.TASK, "T-4")])
    assert (await snapshot(graph, STORY, OTHER_STORY), found) == (before, {})


async def test_a_failed_batch_that_creates_its_story_leaves_no_story(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)

    # Act
    with pytest.raises(DanglingLink):
        await graph.commit(batch("S-NEW", story("S-NEW"), task("T-7", "S-NEW", deps=("T-404",))))

    # Assert
    found = await graph.locate([(NodeKind.STORY, "S-NEW"), (NodeKind.TASK, "T-7")])
    assert (await graph.get_story("S-NEW"), found) == (None, {})


async def test_a_failed_planning_batch_leaves_no_node(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"))

    # Act
    with pytest.raises(DanglingLink):
        await graph.commit(batch("", project("PR-2"), epic("E-1", "PR-404")))

    # Assert
    found = await graph.locate([(NodeKind.PROJECT, "PR-2"), (NodeKind.EPIC, "E-1")])
    assert (found, await graph.neighbourhood(NodeKind.PROJECT.value, "PR-2", 1, 10)) == ({}, None)


async def test_a_failed_batch_does_not_consume_its_request_id(graph: GraphStore) -> None:
    # Arrange
    await seeded(graph)
    with pytest.raises(DanglingLink):
        await graph.commit(doomed(task("T-4", deps=("T-404",))))

    # Act
    result = await graph.commit(doomed(task("T-4")))

    # Assert
    assert (result.replayed, result.version) == (False, 2)
