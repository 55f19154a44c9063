"""Unit tests for InMemoryGraph: atomic write batches, soft deletes, neighbourhoods and change history."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.domain.model import ChangeRecord, Neighbourhood, StoryGraph
from context_service.domain.mutations import Link, LinkKind, Mutation, NodeKind, WriteBatch
from context_service.ports.errors import (
    DanglingLink,
    OwnershipConflict,
    PreconditionFailed,
    StoryMissing,
)

STORY_A = "S-A"
STORY_B = "S-B"


def story(story_id: str, phase: str = "DESIGN") -> Mutation:
    """MERGE a story node."""
    return Mutation(
        NodeKind.STORY,
        story_id,
        on_create={
            "title": f"Story {story_id}",
            "current_phase": phase,
            "context_version": 0,
            "status": "ACTIVE",
        },
    )


def task(task_id: str, *deps: str, story_id: str = STORY_A, **fields: str | int) -> Mutation:
    """MERGE a task with DEPENDS_ON links to `deps`."""
    return Mutation(
        NodeKind.TASK,
        task_id,
        fields={"title": f"Task {task_id}", **fields},
        on_create={"story_id": story_id, "status": "PENDING"},
        links=tuple(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, d) for d in deps),
    )


def decision(
    decision_id: str, *, influences: tuple[str, ...] = (), depends_on: tuple[str, ...] = ()
) -> Mutation:
    """MERGE a decision linked to the tasks it influences and the decisions it depends on."""
    links = [Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, t, incoming=True) for t in influences]
    links += [Link(LinkKind.DEPENDS_ON, NodeKind.DECISION, d) for d in depends_on]
    return Mutation(
        NodeKind.DECISION,
        decision_id,
        fields={"title": f"Decision {decision_id}"},
        on_create={"story_id": STORY_A, "status": "PROPOSED", "metadata": "{}"},
        links=tuple(links),
    )


def soft_delete(kind: NodeKind, node_id: str) -> Mutation:
    """Mark a node DELETED."""
    return Mutation(kind, node_id, fields={"status": "DELETED"})


def project(node_id: str, *links_to: str) -> Mutation:
    """MERGE a project node (not story-scoped) with RELATES_TO links to other projects."""
    return Mutation(
        NodeKind.PROJECT,
        node_id,
        fields={"name": node_id},
        links=tuple(Link(LinkKind.RELATES_TO, NodeKind.PROJECT, t) for t in links_to),
    )


def record(entity_id: str) -> ChangeRecord:
    """A history record as a use case would stage it (version stamped by the adapter)."""
    return ChangeRecord(
        version=0,
        role="developer",
        task_id="",
        operation="UPDATE",
        entity_type="SUBTASK",
        entity_id=entity_id,
        reason="r",
        timestamp="2026-11-01T12:00:00.000Z",
    )


@dataclass(frozen=True)
class Snapshot:
    """Everything observable about stories A and B through the graph's read ports."""

    graphs: tuple[StoryGraph | None, ...]
    neighbourhoods: tuple[Neighbourhood | None, ...]
    histories: tuple[list[ChangeRecord], ...]


async def snapshot(graph: InMemoryGraph, *extra_nodes: tuple[str, str]) -> Snapshot:
    """Observable state: story graphs, whole neighbourhoods (all properties and edges), histories."""
    stories = (STORY_A, STORY_B)
    nodes = [(NodeKind.STORY.value, s) for s in stories] + list(extra_nodes)
    return Snapshot(
        graphs=tuple([await graph.load_story_graph(s) for s in stories]),
        neighbourhoods=tuple([await graph.neighbourhood(label, i, 3, 10_000) for label, i in nodes]),
        histories=tuple([await graph.history(s) for s in stories]),
    )


async def seeded() -> InMemoryGraph:
    """Story A with tasks T-1 <- T-2 and decision D-1 influencing T-1; story B empty."""
    graph = InMemoryGraph()
    await graph.commit(WriteBatch(STORY_A, (story(STORY_A),)))
    await graph.commit(WriteBatch(STORY_B, (story(STORY_B),)))
    await graph.commit(
        WriteBatch(STORY_A, (task("T-1"), task("T-2", "T-1"), decision("D-1", influences=("T-1",))))
    )
    return graph


# --- MERGE idempotence ------------------------------------------------------------------------------


async def test_committing_the_same_batch_twice_leaves_one_node_and_one_edge() -> None:
    # Arrange
    graph = await seeded()
    batch = WriteBatch(STORY_A, (task("T-3", "T-1"),))
    await graph.commit(batch)
    once = await snapshot(graph)

    # Act
    await graph.commit(batch)

    # Assert
    assert await snapshot(graph) == once


async def test_merged_task_appears_once_with_one_dependency() -> None:
    # Arrange
    graph = await seeded()
    batch = WriteBatch(STORY_A, (task("T-3", "T-1"),))

    # Act
    await graph.commit(batch)
    await graph.commit(batch)

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    assert [t.dependencies for t in loaded.tasks if t.task_id == "T-3"] == [("T-1",)]


async def test_merge_of_an_existing_node_keeps_on_create_values_and_applies_fields() -> None:
    # Arrange
    graph = await seeded()
    again = Mutation(
        NodeKind.TASK, "T-1", fields={"role": "qa"}, on_create={"story_id": STORY_A, "status": "NEW"}
    )

    # Act
    await graph.commit(WriteBatch(STORY_A, (again,)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    t1 = loaded.task("T-1")
    assert t1 is not None
    assert (t1.title, t1.status, t1.role) == ("Task T-1", "PENDING", "qa")


# --- request_id replay ------------------------------------------------------------------------------


async def test_replayed_request_id_reports_replayed_and_changes_nothing() -> None:
    # Arrange
    graph = await seeded()
    await graph.commit(
        WriteBatch(STORY_A, (task("T-3"),), bump_version=True, history=(record("T-3"),), request_id="r-1")
    )
    before = await snapshot(graph)

    # Act
    result = await graph.commit(
        WriteBatch(STORY_A, (task("T-4"),), bump_version=True, history=(record("T-4"),), request_id="r-1")
    )

    # Assert
    assert (result.replayed, result.version) == (True, 1)
    assert await snapshot(graph) == before


async def test_first_commit_of_a_request_id_is_not_a_replay() -> None:
    # Arrange
    graph = await seeded()

    # Act
    result = await graph.commit(WriteBatch(STORY_A, (task("T-3"),), bump_version=True, request_id="r-1"))

    # Assert
    assert (result.replayed, result.version) == (False, 1)


async def test_request_ids_are_scoped_per_story() -> None:
    # Arrange
    graph = await seeded()
    await graph.commit(WriteBatch(STORY_A, (task("T-3"),), bump_version=True, request_id="r-1"))

    # Act
    result = await graph.commit(
        WriteBatch(STORY_B, (task("T-B1", story_id=STORY_B),), bump_version=True, request_id="r-1")
    )

    # Assert
    assert (result.replayed, result.version) == (False, 1)


async def test_failed_batch_does_not_consume_its_request_id() -> None:
    # Arrange
    graph = await seeded()
    with pytest.raises(DanglingLink):
        await graph.commit(WriteBatch(STORY_A, (task("T-3", "T-404"),), bump_version=True, request_id="r-1"))

    # Act
    result = await graph.commit(WriteBatch(STORY_A, (task("T-3"),), bump_version=True, request_id="r-1"))

    # Assert
    assert (result.replayed, result.version) == (False, 1)


# --- version bump and history -----------------------------------------------------------------------


@pytest.mark.parametrize("mutations", [1, 2, 5])
async def test_bump_version_increments_exactly_once_per_batch(mutations: int) -> None:
    # Arrange
    graph = await seeded()
    batch = WriteBatch(STORY_A, tuple(task(f"T-{10 + i}") for i in range(mutations)), bump_version=True)

    # Act
    result = await graph.commit(batch)

    # Assert
    loaded = await graph.get_story(STORY_A)
    assert loaded is not None
    assert (result.version, loaded.context_version) == (1, 1)


async def test_consecutive_bumping_batches_count_up_by_one() -> None:
    # Arrange
    graph = await seeded()

    # Act
    versions = [
        (await graph.commit(WriteBatch(STORY_A, (task("T-1", status="DONE"),), bump_version=True))).version
        for _ in range(3)
    ]

    # Assert
    assert versions == [1, 2, 3]


async def test_batch_without_bump_leaves_the_version_alone() -> None:
    # Arrange
    graph = await seeded()

    # Act
    result = await graph.commit(WriteBatch(STORY_A, (task("T-3"),)))

    # Assert
    assert result.version == 0


# --- preconditions and atomicity --------------------------------------------------------------------


async def test_expect_phase_mismatch_raises_precondition_failed_with_the_actual_phase() -> None:
    # Arrange
    graph = await seeded()

    # Act
    with pytest.raises(PreconditionFailed) as caught:
        await graph.commit(WriteBatch(STORY_A, (task("T-3"),), expect_phase="BUILD", bump_version=True))

    # Assert
    assert caught.value.actual == "DESIGN"


async def test_expect_phase_mismatch_writes_nothing() -> None:
    # Arrange
    graph = await seeded()
    before = await snapshot(graph)

    # Act
    with pytest.raises(PreconditionFailed):
        await graph.commit(
            WriteBatch(
                STORY_A, (task("T-3"),), expect_phase="BUILD", bump_version=True, history=(record("T-3"),)
            )
        )

    # Assert
    assert await snapshot(graph) == before


async def test_expect_phase_match_commits() -> None:
    # Arrange
    graph = await seeded()

    # Act
    result = await graph.commit(WriteBatch(STORY_A, (task("T-3"),), expect_phase="DESIGN", bump_version=True))

    # Assert
    assert (result.version, result.current_phase) == (1, "DESIGN")


async def test_batch_failing_midway_rolls_back_every_earlier_mutation() -> None:
    # Arrange
    graph = await seeded()
    before = await snapshot(graph, (NodeKind.PROJECT.value, "PR-1"))
    batch = WriteBatch(
        STORY_A,
        (
            task("T-1", status="DONE", role="qa"),  # update of an existing node
            task("T-3", "T-1"),  # new node with a structural edge and a dependency edge
            Mutation(NodeKind.TASK, "T-2", replace_links=(LinkKind.DEPENDS_ON,)),  # edge removal
            decision("D-1", influences=("T-2",)),  # new edge on an existing node
            project("PR-1"),  # a node outside the story
            task("T-4", "T-404"),  # link to a missing node: the adapter raises here
        ),
        bump_version=True,
        history=(record("T-1"),),
        request_id="r-1",
    )

    # Act
    with pytest.raises(DanglingLink, match="not found"):
        await graph.commit(batch)

    # Assert
    assert await snapshot(graph, (NodeKind.PROJECT.value, "PR-1")) == before


async def test_writing_a_task_of_story_a_under_story_b_is_an_ownership_conflict() -> None:
    # Arrange
    graph = await seeded()

    # Act
    with pytest.raises(OwnershipConflict) as caught:
        await graph.commit(WriteBatch(STORY_B, (task("T-1", story_id=STORY_B),)))

    # Assert
    assert (caught.value.kind, caught.value.node_id, caught.value.owner) == ("Task", "T-1", STORY_A)


async def test_ownership_conflict_writes_nothing() -> None:
    # Arrange
    graph = await seeded()
    before = await snapshot(graph)

    # Act
    with pytest.raises(OwnershipConflict):
        await graph.commit(
            WriteBatch(
                STORY_B, (task("T-B1", story_id=STORY_B), task("T-1", story_id=STORY_B)), bump_version=True
            )
        )

    # Assert
    assert await snapshot(graph) == before


async def test_batch_on_an_unknown_story_raises_story_missing() -> None:
    # Arrange
    graph = await seeded()

    # Act
    with pytest.raises(StoryMissing, match="S-404"):
        await graph.commit(WriteBatch("S-404", (task("T-9", story_id="S-404"),), bump_version=True))


async def test_batch_on_an_unknown_story_writes_nothing() -> None:
    # Arrange
    graph = await seeded()
    before = await snapshot(graph)

    # Act
    with pytest.raises(StoryMissing):
        await graph.commit(WriteBatch("S-404", (task("T-9", story_id="S-404"),), bump_version=True))

    # Assert
    assert (await snapshot(graph), await graph.locate([(NodeKind.TASK, "T-9")])) == (before, {})


async def test_batch_creating_its_story_is_not_story_missing() -> None:
    # Arrange
    graph = InMemoryGraph()

    # Act
    await graph.commit(WriteBatch("S-NEW", (story("S-NEW"), task("T-9", story_id="S-NEW"))))

    # Assert
    loaded = await graph.load_story_graph("S-NEW")
    assert loaded is not None
    assert [t.task_id for t in loaded.tasks] == ["T-9"]


# --- soft deletes in the story graph ----------------------------------------------------------------


async def test_story_graph_excludes_soft_deleted_tasks() -> None:
    # Arrange
    graph = await seeded()

    # Act
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.TASK, "T-1"),)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    assert [t.task_id for t in loaded.tasks] == ["T-2"]


async def test_story_graph_drops_dependencies_on_soft_deleted_tasks() -> None:
    # Arrange
    graph = await seeded()

    # Act
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.TASK, "T-1"),)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    t2 = loaded.task("T-2")
    assert t2 is not None
    assert t2.dependencies == ()


async def test_story_graph_drops_influences_of_soft_deleted_tasks() -> None:
    # Arrange
    graph = await seeded()

    # Act
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.TASK, "T-1"),)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    assert [(d.decision_id, d.influences) for d in loaded.decisions] == [("D-1", ())]


async def test_story_graph_excludes_soft_deleted_decisions_and_their_edges() -> None:
    # Arrange
    graph = await seeded()
    await graph.commit(
        WriteBatch(STORY_A, (decision("D-2", depends_on=("D-1",)), decision("D-3", depends_on=("D-2",))))
    )

    # Act
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.DECISION, "D-2"),)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    assert ([d.decision_id for d in loaded.decisions], loaded.decision_edges) == (["D-1", "D-3"], ())


@pytest.mark.parametrize("status", ["DELETED", "deleted", "Deleted"])
async def test_deleted_status_is_recognised_case_insensitively(status: str) -> None:
    # Arrange
    graph = await seeded()

    # Act
    await graph.commit(WriteBatch(STORY_A, (Mutation(NodeKind.TASK, "T-2", fields={"status": status}),)))

    # Assert
    loaded = await graph.load_story_graph(STORY_A)
    assert loaded is not None
    assert [t.task_id for t in loaded.tasks] == ["T-1"]


async def test_story_graph_of_an_unknown_story_is_none() -> None:
    # Arrange
    graph = await seeded()

    # Act
    loaded = await graph.load_story_graph("S-404")

    # Assert
    assert loaded is None


# --- neighbourhood ----------------------------------------------------------------------------------


async def chain(length: int) -> InMemoryGraph:
    """Projects N0 -> N1 -> ... -> N{length-1}, outside any story."""
    graph = InMemoryGraph()
    nodes = [project("N0")] + [project(f"N{i}", f"N{i - 1}") for i in range(1, length)]
    await graph.commit(WriteBatch("", tuple(nodes)))
    return graph


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_neighbourhood_reaches_exactly_depth_hops_along_a_chain(depth: int) -> None:
    # Arrange
    graph = await chain(6)

    # Act
    found = await graph.neighbourhood(NodeKind.PROJECT.value, "N0", depth, 100)

    # Assert
    assert found is not None
    assert [n.node_id for n in found.neighbours] == [f"N{i}" for i in range(1, depth + 1)]


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_neighbourhood_links_are_those_among_the_nodes_found(depth: int) -> None:
    # Arrange
    graph = await chain(6)

    # Act
    found = await graph.neighbourhood(NodeKind.PROJECT.value, "N0", depth, 100)

    # Assert
    assert found is not None
    assert [(link.src_id, link.rel_type, link.dst_id) for link in found.links] == [
        (f"N{i}", "RELATES_TO", f"N{i - 1}") for i in range(1, depth + 1)
    ]


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_neighbourhood_on_a_full_chain_is_not_truncated(depth: int) -> None:
    # Arrange
    graph = await chain(6)

    # Act
    found = await graph.neighbourhood(NodeKind.PROJECT.value, "N0", depth, 100)

    # Assert
    assert found is not None
    assert found.truncated is False


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
async def test_neighbourhood_limit_caps_the_neighbours_and_sets_truncated(limit: int) -> None:
    # Arrange
    graph = InMemoryGraph()
    await graph.commit(
        WriteBatch("", (*(project(f"L{i}") for i in range(8)), project("HUB", *(f"L{i}" for i in range(8)))))
    )

    # Act
    found = await graph.neighbourhood(NodeKind.PROJECT.value, "HUB", 1, limit)

    # Assert
    assert found is not None
    assert (len(found.neighbours), found.truncated) == (limit, True)


@pytest.mark.parametrize("limit", [8, 9, 100])
async def test_neighbourhood_within_the_limit_is_not_truncated(limit: int) -> None:
    # Arrange
    graph = InMemoryGraph()
    await graph.commit(
        WriteBatch("", (*(project(f"L{i}") for i in range(8)), project("HUB", *(f"L{i}" for i in range(8)))))
    )

    # Act
    found = await graph.neighbourhood(NodeKind.PROJECT.value, "HUB", 1, limit)

    # Assert
    assert found is not None
    assert (len(found.neighbours), found.truncated) == (8, False)


async def test_neighbourhood_skips_soft_deleted_nodes() -> None:
    # Arrange
    graph = await seeded()
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.TASK, "T-2"),)))

    # Act
    found = await graph.neighbourhood(NodeKind.TASK.value, "T-1", 1, 100)

    # Assert
    assert found is not None
    assert sorted(n.node_id for n in found.neighbours) == ["D-1", STORY_A]


async def test_neighbourhood_of_a_soft_deleted_node_is_none() -> None:
    # Arrange
    graph = await seeded()
    await graph.commit(WriteBatch(STORY_A, (soft_delete(NodeKind.TASK, "T-2"),)))

    # Act
    found = await graph.neighbourhood(NodeKind.TASK.value, "T-2", 1, 100)

    # Assert
    assert found is None


# --- history ----------------------------------------------------------------------------------------


async def history_of_five() -> InMemoryGraph:
    """Story A with five bumping batches, one history record each (versions 1..5)."""
    graph = await seeded()
    for i in range(1, 6):
        await graph.commit(
            WriteBatch(STORY_A, (task("T-1", status=f"S{i}"),), bump_version=True, history=(record(f"E{i}"),))
        )
    return graph
