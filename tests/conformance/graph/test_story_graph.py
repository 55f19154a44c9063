"""load_story_graph: every entity of a story with exact values, soft deletes left out, scalar types kept."""

from __future__ import annotations

from dataclasses import replace

from context_service.domain.model import Decision, DecisionEdge, StoryGraph, Task, TaskOrigin
from context_service.domain.mutations import LinkKind, Mutation, NodeKind, Scalar
from tests.conformance.graph.builders import (
    NOW_MS,
    ORIGIN,
    OTHER_STORY,
    STORY,
    decision,
    expected_decision,
    expected_milestone,
    expected_plan,
    expected_story,
    expected_task,
    expected_transition,
    given,
    given_story,
    milestone,
    plan,
    task,
    transition,
)
from tests.conformance.graph.observe import GraphStore, around, loaded

METADATA = {
    "role": "architect",
    "task_ids": "T-1, T-2",
    "note": 'naïve "quoted" text — ünïcode ✓\nsecond line',
    "raw": '{"nested": [1, 2]}',
}


async def test_story_graph_of_an_unknown_story_is_none(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    found = await graph.load_story_graph("S-404")

    # Assert
    assert found is None


async def test_story_graph_of_a_bare_story_holds_only_the_story(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    found = await graph.load_story_graph(STORY)

    # Assert
    assert found == StoryGraph(story=expected_story(STORY))


async def test_story_graph_holds_every_entity_kind_with_its_values(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, plan("P-1"), plan("P-2", version=2), milestone("M-1"))
    await given(
        graph,
        STORY,
        task("T-1", plan_id="P-1", origin=ORIGIN, priority=1, estimated_hours=3),
        task("T-2", deps=("T-1",), role="qa"),
        task("T-3", deps=("T-2", "T-1")),
        decision("D-1", influences=("T-1",)),
        decision(
            "D-2", influences=("T-3", "T-2"), relations=((LinkKind.DEPENDS_ON, "D-1"),), metadata=METADATA
        ),
        *transition("PT-1"),
    )

    # Act
    found = await graph.load_story_graph(STORY)

    # Assert
    assert found == StoryGraph(
        story=expected_story(STORY, current_phase="BUILD"),
        tasks=(
            expected_task("T-1", priority=1, estimated_hours=3, plan_id="P-1", origin=TaskOrigin(**ORIGIN)),
            expected_task("T-2", role="qa", dependencies=("T-1",)),
            expected_task("T-3", dependencies=("T-1", "T-2")),
        ),
        decisions=(
            expected_decision("D-1", influences=("T-1",)),
            expected_decision("D-2", metadata=METADATA, influences=("T-2", "T-3")),
        ),
        decision_edges=(DecisionEdge("D-2", "D-1", "DEPENDS_ON"),),
        plans=(expected_plan("P-1"), expected_plan("P-2", version=2)),
        milestones=(expected_milestone("M-1"),),
        transitions=(expected_transition("PT-1"),),
    )


async def test_story_graph_orders_each_collection_by_id(graph: GraphStore) -> None:
    # Arrange
    names = ("X-2", "X-10", "X-1")  # "X-10" sorts between "X-1" and "X-2"
    await given_story(graph, STORY, *(plan(f"P{n}") for n in names), *(milestone(f"M{n}") for n in names))
    await given(
        graph,
        STORY,
        *(task(f"T{n}") for n in names),
        *(decision(f"D{n}", created_at_ms=NOW_MS + i) for i, n in enumerate(names)),
        *(transition(f"PT{n}")[0] for n in names),
    )

    # Act
    found = await loaded(graph, STORY)

    # Assert
    order = ["X-1", "X-10", "X-2"]
    assert (
        [t.task_id for t in found.tasks],
        [d.decision_id for d in found.decisions],
        [p.plan_id for p in found.plans],
        [m.milestone_id for m in found.milestones],
        [p.transition_id for p in found.transitions],
    ) == (
        [f"T{n}" for n in order],
        [f"D{n}" for n in order],
        [f"P{n}" for n in order],
        [f"M{n}" for n in order],
        [f"PT{n}" for n in order],
    )


async def test_task_dependencies_are_sorted_by_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-2"), task("T-10"), task("T-1"))

    # Act
    await given(graph, STORY, task("T-9", deps=("T-2", "T-10", "T-1")))

    # Assert
    assert (await loaded(graph, STORY)).task("T-9") == expected_task(
        "T-9", dependencies=("T-1", "T-10", "T-2")
    )


async def test_decision_influences_are_sorted_by_task_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-2"), task("T-10"), task("T-1"))

    # Act
    await given(graph, STORY, decision("D-1", influences=("T-2", "T-10", "T-1")))

    # Assert
    assert (await loaded(graph, STORY)).decisions == (
        expected_decision("D-1", influences=("T-1", "T-10", "T-2")),
    )


async def test_every_decision_relation_type_is_loaded_ordered_by_source_type_and_target(
    graph: GraphStore,
) -> None:
    # Arrange
    await given_story(graph, STORY, *(decision(f"D-{i}") for i in range(2, 6)))
    relations = (
        (LinkKind.SUPERSEDES, "D-3"),
        (LinkKind.RELATES_TO, "D-5"),
        (LinkKind.DEPENDS_ON, "D-2"),
        (LinkKind.GOVERNS, "D-4"),
    )

    # Act
    await given(graph, STORY, decision("D-1", relations=relations), decision("D-0", relations=relations[:1]))

    # Assert
    assert (await loaded(graph, STORY)).decision_edges == (
        DecisionEdge("D-0", "D-3", "SUPERSEDES"),
        DecisionEdge("D-1", "D-2", "DEPENDS_ON"),
        DecisionEdge("D-1", "D-4", "GOVERNS"),
        DecisionEdge("D-1", "D-5", "RELATES_TO"),
        DecisionEdge("D-1", "D-3", "SUPERSEDES"),
    )


async def test_decision_edges_to_decisions_of_another_story_are_left_out(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, OTHER_STORY, decision("D-9", OTHER_STORY))
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, decision("D-1", relations=((LinkKind.DEPENDS_ON, "D-9"),)))

    # Assert
    assert (
        (await loaded(graph, STORY)).decision_edges,
        (await loaded(graph, OTHER_STORY)).decision_edges,
    ) == (
        (),
        (),
    )


async def test_decision_metadata_round_trips_as_a_mapping_of_strings(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, decision("D-1", metadata=METADATA))

    # Assert
    assert (await loaded(graph, STORY)).decisions[0].metadata == METADATA


async def test_task_missing_properties_read_as_the_domain_defaults(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, Mutation(NodeKind.TASK, "T-1", on_create={"story_id": STORY, "title": "Bare"}))

    # Assert
    assert (await loaded(graph, STORY)).tasks == (Task(task_id="T-1", story_id=STORY, title="Bare"),)


async def test_decision_missing_properties_read_as_the_domain_defaults(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(
        graph, STORY, Mutation(NodeKind.DECISION, "D-1", on_create={"story_id": STORY, "title": "Bare"})
    )

    # Assert
    assert (await loaded(graph, STORY)).decisions == (
        Decision(decision_id="D-1", story_id=STORY, title="Bare"),
    )


async def test_scalar_property_types_are_kept(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    values: dict[str, Scalar] = {
        "priority": 2,
        "big": NOW_MS,
        "negative": -7,
        "weight": 0.25,
        "blocking": True,
        "idle": False,
    }
    mutation = task("T-1")

    # Act
    await given(graph, STORY, replace(mutation, fields={**mutation.fields, **values}))

    # Assert
    properties = (await around(graph, NodeKind.TASK.value, "T-1")).node.properties
    assert [(properties[k], type(properties[k])) for k in values] == [(v, type(v)) for v in values.values()]
