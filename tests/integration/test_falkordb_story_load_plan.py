"""The story load on a real FalkorDB is planned from the story's index entry, never from a graph scan."""

from __future__ import annotations

import pytest
from falkordb.asyncio.graph import AsyncGraph
from redis.asyncio import Redis

from context_service.adapters.cypher.catalogue import LOAD_STORY, story_params
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer
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
