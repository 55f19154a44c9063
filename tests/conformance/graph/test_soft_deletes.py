"""Soft deletes: nodes whose status is DELETED (any case) vanish from the story graph with their edges."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from context_service.domain.model import StoryGraph
from context_service.domain.mutations import LinkKind, Mutation, NodeKind
from tests.conformance.graph.builders import (
    STORY,
    decision,
    expected_decision,
    expected_task,
    given,
    given_story,
    milestone,
    plan,
    soft_delete,
    task,
    transition,
)
from tests.conformance.graph.observe import GraphStore, loaded


def _story_scoped(kind: NodeKind, suffix: str) -> Mutation:
    node_id = f"{kind.value}-{suffix}"
    makers: dict[NodeKind, Callable[[str], Mutation]] = {
        NodeKind.TASK: task,
        NodeKind.DECISION: decision,
        NodeKind.PLAN: plan,
        NodeKind.MILESTONE: milestone,
        NodeKind.TRANSITION: lambda i: transition(i)[0],
    }
    return makers[kind](node_id)


def _ids_of(found: StoryGraph, kind: NodeKind) -> list[str]:
    return {
        NodeKind.TASK: [t.task_id for t in found.tasks],
        NodeKind.DECISION: [d.decision_id for d in found.decisions],
        NodeKind.PLAN: [p.plan_id for p in found.plans],
        NodeKind.MILESTONE: [m.milestone_id for m in found.milestones],
        NodeKind.TRANSITION: [p.transition_id for p in found.transitions],
    }[kind]


@pytest.mark.parametrize(
    "kind", [NodeKind.TASK, NodeKind.DECISION, NodeKind.PLAN, NodeKind.MILESTONE, NodeKind.TRANSITION]
)
async def test_soft_deleted_nodes_are_left_out_of_the_story_graph(graph: GraphStore, kind: NodeKind) -> None:
    # Arrange
    await given_story(graph, STORY, _story_scoped(kind, "1"), _story_scoped(kind, "2"))

    # Act
    await given(graph, STORY, soft_delete(kind, f"{kind.value}-2"))

    # Assert
    assert _ids_of(await loaded(graph, STORY), kind) == [f"{kind.value}-1"]


@pytest.mark.parametrize("status", ["DELETED", "deleted", "Deleted"])
async def test_deleted_status_is_recognised_in_any_case(graph: GraphStore, status: str) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"))

    # Act
    await given(graph, STORY, soft_delete(NodeKind.TASK, "T-2", status))

    # Assert
    assert [t.task_id for t in (await loaded(graph, STORY)).tasks] == ["T-1"]


async def test_dependencies_on_soft_deleted_tasks_are_left_out(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"), task("T-3", deps=("T-1", "T-2")))

    # Act
    await given(graph, STORY, soft_delete(NodeKind.TASK, "T-1"))

    # Assert
    assert (await loaded(graph, STORY)).task("T-3") == expected_task("T-3", dependencies=("T-2",))


async def test_influences_of_soft_deleted_tasks_are_left_out(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"), decision("D-1", influences=("T-1", "T-2")))

    # Act
    await given(graph, STORY, soft_delete(NodeKind.TASK, "T-1"))

    # Assert
    assert (await loaded(graph, STORY)).decisions == (expected_decision("D-1", influences=("T-2",)),)


async def test_decision_edges_of_soft_deleted_decisions_are_left_out(graph: GraphStore) -> None:
    # Arrange
    await given_story(
        graph, STORY, decision("D-1"), decision("D-2", relations=((LinkKind.DEPENDS_ON, "D-1"),))
    )
    await given(graph, STORY, decision("D-3", relations=((LinkKind.SUPERSEDES, "D-2"),)))

    # Act
    await given(graph, STORY, soft_delete(NodeKind.DECISION, "D-2"))

    # Assert
    assert (await loaded(graph, STORY)).decision_edges == ()
