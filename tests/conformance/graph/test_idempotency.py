"""Exactly-once writes: MERGE under redelivery, request_id replays, concurrent version bumps."""

from __future__ import annotations

import asyncio

from context_service.domain.mutations import CommitResult, Link, LinkKind, Mutation, NodeKind, WriteBatch
from tests.conformance.graph.builders import (
    OTHER_STORY,
    STORY,
    batch,
    decision,
    expected_task,
    given,
    given_story,
    record,
    task,
)
from tests.conformance.graph.observe import GraphStore, around, edges, loaded, snapshot


def redelivered() -> WriteBatch:
    """A batch writing nodes, structural edges and links in both directions."""
    return batch(
        STORY,
        task("T-1"),
        task("T-2", deps=("T-1",)),
        decision("D-1", influences=("T-2",)),
        decision("D-2", relations=((LinkKind.SUPERSEDES, "D-1"),)),
    )


async def test_the_same_batch_committed_twice_reads_the_same_as_once(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(redelivered())
    once = await snapshot(graph, STORY)

    # Act
    await graph.commit(redelivered())

    # Assert
    assert await snapshot(graph, STORY) == once


async def test_a_redelivered_batch_leaves_one_edge_per_link(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(redelivered())

    # Act
    await graph.commit(redelivered())

    # Assert
    assert edges(await around(graph, NodeKind.STORY.value, STORY)) == [
        ("D-2", "SUPERSEDES", "D-1"),
        (STORY, "HAS_DECISION", "D-1"),
        (STORY, "HAS_DECISION", "D-2"),
        (STORY, "HAS_TASK", "T-1"),
        (STORY, "HAS_TASK", "T-2"),
        ("T-2", "DEPENDS_ON", "T-1"),
        ("T-2", "INFLUENCED_BY", "D-1"),
    ]


async def test_a_redelivered_batch_leaves_one_node_per_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(redelivered())

    # Act
    await graph.commit(redelivered())

    # Assert
    found = await around(graph, NodeKind.STORY.value, STORY)
    assert [(n.label, n.node_id) for n in found.neighbours] == [
        ("Decision", "D-1"),
        ("Decision", "D-2"),
        ("Task", "T-1"),
        ("Task", "T-2"),
    ]


async def test_the_same_link_twice_in_one_batch_is_one_edge(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))
    link = Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-1")

    # Act
    await given(
        graph, STORY, task("T-2", deps=("T-1", "T-1")), Mutation(NodeKind.TASK, "T-2", links=(link, link))
    )

    # Assert
    assert edges(await around(graph, NodeKind.TASK.value, "T-2")) == [
        (STORY, "HAS_TASK", "T-1"),
        (STORY, "HAS_TASK", "T-2"),
        ("T-2", "DEPENDS_ON", "T-1"),
    ]


async def test_a_redelivered_node_merges_new_fields_into_its_properties(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1", role="qa"))

    # Act
    await given(graph, STORY, Mutation(NodeKind.TASK, "T-1", fields={"status": "DONE"}))

    # Assert
    assert (await loaded(graph, STORY)).tasks == (expected_task("T-1", role="qa", status="DONE"),)


async def test_a_replayed_request_id_returns_the_first_result_marked_replayed(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1"))
    await graph.commit(batch(STORY, task("T-2"), bump_version=True, request_id="r-2"))

    # Act
    result = await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1"))

    # Assert
    assert result == CommitResult(version=1, current_phase="DESIGN", replayed=True)


async def test_a_first_request_id_is_not_a_replay(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    result = await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1"))

    # Assert
    assert result == CommitResult(version=1, current_phase="DESIGN", replayed=False)


async def test_a_replayed_request_id_writes_nothing_even_when_the_batch_differs(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(
        batch(STORY, task("T-1"), bump_version=True, history=(record("T-1"),), request_id="r-1")
    )
    before = await snapshot(graph, STORY)

    # Act
    await graph.commit(
        batch(
            STORY,
            task("T-1", status="DONE"),
            task("T-2"),
            bump_version=True,
            history=(record("T-2"),),
            request_id="r-1",
        )
    )

    # Assert
    assert await snapshot(graph, STORY) == before


async def test_a_request_id_replays_when_the_batch_bumps_no_version(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(batch(STORY, task("T-1"), request_id="r-1"))

    # Act
    result = await graph.commit(batch(STORY, task("T-2"), request_id="r-1"))

    # Assert
    assert (result, await graph.locate([(NodeKind.TASK, "T-2")])) == (
        CommitResult(0, "DESIGN", replayed=True),
        {},
    )


async def test_request_ids_are_scoped_to_their_story(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await given_story(graph, OTHER_STORY)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1"))

    # Act
    result = await graph.commit(
        batch(OTHER_STORY, task("T-2", OTHER_STORY), bump_version=True, request_id="r-1")
    )

    # Assert
    assert result == CommitResult(version=1, current_phase="DESIGN", replayed=False)


async def test_concurrent_bumping_commits_lose_no_update(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    batches = [
        batch(STORY, task(f"T-{i}"), bump_version=True, history=(record(f"T-{i}"),), request_id=f"r-{i}")
        for i in range(20)
    ]

    # Act
    results = await asyncio.gather(*(graph.commit(b) for b in batches))

    # Assert
    story = await graph.get_story(STORY)
    history = await graph.history(STORY)
    requested = [r for r in history if r.request_id]  # the story's own creation record aside
    assert (
        sorted(r.version for r in results),
        story.context_version if story else None,
        [r.version for r in requested],
        sorted(r.request_id for r in requested),
        [r.seq for r in history],
    ) == (
        list(range(1, 21)),
        20,
        list(range(20, 0, -1)),
        sorted(b.request_id for b in batches),
        list(range(21, 0, -1)),
    )


async def test_a_replayed_request_returns_what_the_first_commit_announced(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    changed = (("SUBTASK", "T-1"), ("DECISION", "D-1"))
    await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1", changed=changed))

    # Act: the retry plans differently (the task exists now), the record still says what was announced
    result = await graph.commit(batch(STORY, task("T-2"), bump_version=True, request_id="r-1"))

    # Assert
    assert result == CommitResult(version=1, current_phase="DESIGN", replayed=True, changed=changed)


async def test_the_commit_log_knows_an_applied_request_and_not_a_new_one(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    changed = (("SUBTASK", "T-1"),)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1", changed=changed))

    # Act
    applied = await graph.committed(STORY, "r-1")
    unknown = await graph.committed(STORY, "r-2")

    # Assert
    assert applied == CommitResult(version=1, current_phase="DESIGN", replayed=True, changed=changed)
    assert unknown is None
