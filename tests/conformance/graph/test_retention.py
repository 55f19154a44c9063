"""History retention: a store keeps the newest N records of each story, trimming the oldest first."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.local_servers import LocalServer
from tests.conformance.graph.builders import OTHER_STORY, STORY, batch, given_story, record, task
from tests.conformance.graph.observe import GraphStore

RETENTION = 3


@pytest.fixture(params=["memory", "falkordb"])
async def small_graph(request: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    """A store keeping three records per story (Neo4j shares this code path: the Cypher adapter)."""
    if request.param == "memory":
        async with InMemoryGraph(history_retention=RETENTION) as memory:
            yield memory
        return
    from context_service.adapters.falkordb.graph import FalkorGraph

    server: LocalServer = request.getfixturevalue("falkordb")
    name = f"retention-{uuid.uuid4().hex}"
    async with FalkorGraph(url=server.url, graph=name, history_retention=RETENTION) as store:
        try:
            yield store
        finally:
            await store.drop()


async def write_records(graph: GraphStore, story_id: str, count: int) -> None:
    """The story and its task (seqs 1 and 2), then `count` commits of one record each."""
    task_id = f"T-{story_id}"
    await given_story(graph, story_id, task(task_id, story_id))
    for i in range(count):
        change = task(task_id, story_id, status=f"S{i}")
        await graph.commit(batch(story_id, change, bump_version=True, history=(record(task_id),)))


async def test_records_beyond_the_retention_are_trimmed_oldest_first(small_graph: GraphStore) -> None:
    # Act
    await write_records(small_graph, STORY, 5)

    # Assert
    assert [r.seq for r in await small_graph.history(STORY)] == [7, 6, 5]


async def test_trimming_keeps_counting_seqs_up(small_graph: GraphStore) -> None:
    # Arrange
    await write_records(small_graph, STORY, 5)

    # Act
    await small_graph.commit(
        batch(STORY, task("T-1", status="LAST"), bump_version=True, history=(record("T-1"),))
    )

    # Assert
    assert [r.seq for r in await small_graph.history(STORY)] == [8, 7, 6]


async def test_retention_counts_per_story(small_graph: GraphStore) -> None:
    # Arrange
    await write_records(small_graph, STORY, 5)

    # Act
    await write_records(small_graph, OTHER_STORY, 2)

    # Assert
    assert [r.seq for r in await small_graph.history(OTHER_STORY)] == [4, 3, 2]
    assert [r.seq for r in await small_graph.history(STORY)] == [7, 6, 5]
