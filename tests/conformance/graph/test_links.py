"""commit: links in both directions, replace_links, structural edges, typed ids, the planning hierarchy."""

from __future__ import annotations

import pytest

from context_service.domain.mutations import (
    STORY_EDGES,
    TYPED_ID,
    CommitResult,
    Link,
    LinkKind,
    Mutation,
    NodeKind,
)
from tests.conformance.graph.builders import (
    NOW_MS,
    STORY,
    batch,
    decision,
    epic,
    expected_decision,
    expected_story,
    expected_task,
    given,
    given_story,
    in_epic,
    milestone,
    plan,
    project,
    story,
    task,
    transition,
)
from tests.conformance.graph.observe import GraphStore, around, edges, edges_of, loaded


async def test_replace_links_swaps_the_outgoing_edges_of_that_kind(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"), task("T-3", deps=("T-1",)))

    # Act
    await given(graph, STORY, task("T-3", deps=("T-2",)))

    # Assert
    assert (await loaded(graph, STORY)).task("T-3") == expected_task("T-3", dependencies=("T-2",))


async def test_replace_links_without_new_links_clears_that_kind(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-3", deps=("T-1",)))

    # Act
    await given(graph, STORY, Mutation(NodeKind.TASK, "T-3", replace_links=(LinkKind.DEPENDS_ON,)))

    # Assert
    assert (await loaded(graph, STORY)).task("T-3") == expected_task("T-3")


async def test_replace_links_keeps_outgoing_edges_of_other_kinds(graph: GraphStore) -> None:
    # Arrange
    await given_story(
        graph, STORY, task("T-1"), task("T-3", deps=("T-1",)), decision("D-1", influences=("T-3",))
    )

    # Act
    await given(graph, STORY, task("T-3"))

    # Assert
    assert (await loaded(graph, STORY)).decisions == (expected_decision("D-1", influences=("T-3",)),)


async def test_replace_links_keeps_incoming_edges_of_that_kind(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-3", deps=("T-1",)), task("T-4", deps=("T-3",)))

    # Act
    await given(graph, STORY, task("T-3"))

    # Assert
    assert (await loaded(graph, STORY)).task("T-4") == expected_task("T-4", dependencies=("T-3",))


async def test_links_without_replace_links_add_to_the_existing_edges(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"), task("T-3", deps=("T-1",)))
    more = Mutation(NodeKind.TASK, "T-3", links=(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-2"),))

    # Act
    await given(graph, STORY, more)

    # Assert
    assert (await loaded(graph, STORY)).task("T-3") == expected_task("T-3", dependencies=("T-1", "T-2"))


async def test_an_outgoing_link_runs_from_the_mutated_node(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    await given(graph, STORY, task("T-2", deps=("T-1",)))

    # Assert
    assert edges_of(await around(graph, NodeKind.TASK.value, "T-2"), "DEPENDS_ON")[0].src_id == "T-2"


async def test_an_incoming_link_runs_to_the_mutated_node(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    await given(graph, STORY, decision("D-1", influences=("T-1",)))

    # Assert
    found = await around(graph, NodeKind.DECISION.value, "D-1")
    assert [(e.src_id, e.dst_id) for e in edges_of(found, "INFLUENCED_BY")] == [("T-1", "D-1")]


STRUCTURAL = {
    NodeKind.TASK: task("N-1"),
    NodeKind.DECISION: decision("N-1"),
    NodeKind.PLAN: plan("N-1"),
    NodeKind.MILESTONE: milestone("N-1"),
    NodeKind.TRANSITION: transition("N-1")[0],
}


@pytest.mark.parametrize("kind", list(STRUCTURAL))
async def test_story_scoped_nodes_hang_off_the_story_by_their_structural_edge(
    graph: GraphStore, kind: NodeKind
) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await given(graph, STORY, STRUCTURAL[kind])

    # Assert
    assert edges(await around(graph, NodeKind.STORY.value, STORY)) == [(STORY, STORY_EDGES[kind], "N-1")]


TYPED = {
    NodeKind.TASK: (STORY, task("N-1")),
    NodeKind.PLAN: (STORY, plan("N-1")),
    NodeKind.PROJECT: ("", project("N-1")),
}


@pytest.mark.parametrize("kind", list(TYPED))
async def test_nodes_carry_their_typed_id_property(graph: GraphStore, kind: NodeKind) -> None:
    # Arrange
    await given_story(graph, STORY)
    story_id, mutation = TYPED[kind]

    # Act
    await given(graph, story_id, mutation)

    # Assert
    properties = (await around(graph, kind.value, "N-1")).node.properties
    assert (properties["id"], properties[TYPED_ID[kind]]) == ("N-1", "N-1")


async def test_project_batch_without_a_story_commits_with_no_version_or_phase(graph: GraphStore) -> None:
    # Act
    result = await graph.commit(batch("", project("PR-1")))

    # Assert
    assert result == CommitResult(version=0, current_phase="")


async def test_project_reads_back_with_every_property(graph: GraphStore) -> None:
    # Act
    await given(graph, "", project("PR-1"))

    # Assert
    assert (await around(graph, NodeKind.PROJECT.value, "PR-1")).node.properties == {
        "id": "PR-1",
        "project_id": "PR-1",
        "name": "Project PR-1",
        "description": "",
        "owner": "po-1",
        "status": "ACTIVE",
        "created_at_ms": NOW_MS,
    }


async def test_upserting_a_project_again_updates_fields_and_keeps_on_create(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"))
    again = Mutation(NodeKind.PROJECT, "PR-1", fields={"name": "Renamed"}, on_create={"created_at_ms": 1})

    # Act
    await given(graph, "", again)

    # Assert
    properties = (await around(graph, NodeKind.PROJECT.value, "PR-1")).node.properties
    assert (properties["name"], properties["created_at_ms"], properties["owner"]) == (
        "Renamed",
        NOW_MS,
        "po-1",
    )


async def test_epic_hangs_off_its_project_by_has_epic(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"))

    # Act
    await given(graph, "", epic("E-1", "PR-1"))

    # Assert
    assert edges(await around(graph, NodeKind.PROJECT.value, "PR-1")) == [("PR-1", "HAS_EPIC", "E-1")]


async def test_story_linked_to_an_epic_completes_the_project_epic_story_chain(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"))
    await given(graph, "", epic("E-1", "PR-1"))
    await given(graph, STORY, story(STORY))

    # Act
    await given(graph, STORY, in_epic(STORY, "E-1"))

    # Assert
    assert edges(await around(graph, NodeKind.PROJECT.value, "PR-1", depth=2)) == [
        ("E-1", "CONTAINS_STORY", STORY),
        ("PR-1", "HAS_EPIC", "E-1"),
    ]


async def test_story_linked_to_an_epic_records_its_epic_id(graph: GraphStore) -> None:
    # Arrange
    await given(graph, "", project("PR-1"), epic("E-1", "PR-1"))
    await given(graph, STORY, story(STORY))

    # Act
    await given(graph, STORY, in_epic(STORY, "E-1"))

    # Assert
    assert await graph.get_story(STORY) == expected_story(STORY, epic_id="E-1")
