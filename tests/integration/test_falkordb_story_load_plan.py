"""The story load on a real FalkorDB is planned from the story's index entry, never from a graph scan."""

from __future__ import annotations

import re

import pytest
from falkordb.asyncio.graph import AsyncGraph
from redis.asyncio import Redis

from context_service.adapters.cypher.catalogue import LOAD_STORY, story_params
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer
from context_service.ports.graph import NO_REVISION
from tests.conformance.graph.builders import STORY

pytestmark = pytest.mark.integration


async def test_every_branch_of_the_story_load_starts_at_the_story_index(
    falkordb: LocalServer, graph_name: str
) -> None:
    # Arrange
    async with FalkorGraph(url=falkordb.url, graph=graph_name):
        pass  # migrated: the indexes exist

    # Act
    async with Redis.from_url(falkordb.url, decode_responses=True) as client:
        header = AsyncGraph(client, graph_name)._build_params_header(story_params(STORY))
        plan = await client.execute_command("GRAPH.EXPLAIN", graph_name, header + LOAD_STORY)

    # Assert: a scan of every node would make each load cost as much as the whole graph (all stories, all
    # history records) instead of the one story.
    assert not [step for step in plan if "All Node Scan" in step or "Label Scan" in step]
    starts = [step for step in plan if "Node By Index Scan | (s:Story)" in step]
    assert len(starts) >= 4  # one per UNION ALL branch


HISTORY = """
CREATE (s:Story {id: $id, story_id: $id})-[:HAS_TASK]->(:Task {id: $id + '-T1', story_id: $id})
WITH s UNWIND range(1, $records) AS seq
CREATE (s)-[:HAS_CHANGE]->(:ContextChange {id: $id + ':' + toString(seq), story_id: $id, seq: seq})
"""
RECORDS = 200


async def test_the_story_load_never_walks_the_story_history(falkordb: LocalServer, graph_name: str) -> None:
    # Arrange: one task, and many change records hanging off the story as its history does
    async with FalkorGraph(url=falkordb.url, graph=graph_name) as graph:
        await graph.write_rows(HISTORY, {"id": STORY, "records": RECORDS}, "history")

    # Act
    async with Redis.from_url(falkordb.url, decode_responses=True) as client:
        header = AsyncGraph(client, graph_name)._build_params_header(story_params(STORY))
        plan = await client.execute_command("GRAPH.PROFILE", graph_name, header + LOAD_STORY)

    # Assert: no step of the plan handles as many records as the history holds
    produced = [int(n) for step in plan for n in re.findall(r"Records produced: (\d+)", step)]
    assert produced
    assert max(produced) < RECORDS


TASKS = """
CREATE (s:Story {id: $id, story_id: $id})
WITH s UNWIND range(1, $tasks) AS n
CREATE (s)-[:HAS_TASK]->(:Task {id: $id + '-T' + toString(n), story_id: $id})
"""


async def test_the_load_of_a_story_still_at_the_revision_seen_walks_none_of_its_edges(
    falkordb: LocalServer, graph_name: str
) -> None:
    # Arrange: a story of 5 tasks with no content revision yet (it reads as 0)
    async with FalkorGraph(url=falkordb.url, graph=graph_name) as graph:
        await graph.write_rows(TASKS, {"id": STORY, "tasks": 5}, "tasks")

    # Act: the load as a reader holding revision 0 sends it, and as one holding none
    produced: dict[int, int] = {}
    async with Redis.from_url(falkordb.url, decode_responses=True) as client:
        for seen in (0, NO_REVISION):
            header = AsyncGraph(client, graph_name)._build_params_header(story_params(STORY, seen))
            plan = await client.execute_command("GRAPH.PROFILE", graph_name, header + LOAD_STORY)
            produced[seen] = max(
                int(n) for step in plan for n in re.findall(r"Records produced: (\d+)", step)
            )

    # Assert: at revision 0 no step goes past the story's own entry; otherwise the tasks come
    assert produced == {0: 1, NO_REVISION: 6}
