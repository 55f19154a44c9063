"""History pages on a real FalkorDB: through the (story_id, seq) index, also for stories without a counter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from context_service.adapters.cypher.catalogue import CHANGE_INDEX, CHANGE_LABEL, RECENT_HISTORY
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer
from tests.conformance.graph.builders import STORY

pytestmark = pytest.mark.integration

# A story and records as written before stories counted their seqs (no `_seq` on the story).
UNCOUNTED = """
CREATE (s:Story {id: $id, story_id: $id})
WITH s UNWIND $seqs AS seq
CREATE (s)-[:HAS_CHANGE]->(:ContextChange {id: $id + ':' + toString(seq), story_id: $id, seq: seq,
  version: seq, operation: 'UPDATE', entity_type: 'SUBTASK', entity_id: 'T-1', role: 'developer'})
"""


@pytest.fixture
async def graph(falkordb: LocalServer, graph_name: str) -> AsyncIterator[FalkorGraph]:
    """A migrated FalkorDB graph store on a fresh graph."""
    async with FalkorGraph(url=falkordb.url, graph=graph_name) as store:
        yield store


async def test_the_migration_indexes_change_records_by_story_and_seq(graph: FalkorGraph) -> None:
    # Act
    rows = await graph.read_rows("CALL db.indexes() YIELD label, properties", {}, "indexes")

    # Assert
    indexed = {prop for label, props in rows if label == CHANGE_LABEL for prop in props}
    assert set(CHANGE_INDEX) <= indexed


async def test_the_page_statement_finds_records_through_the_index(
    falkordb: LocalServer, graph_name: str
) -> None:
    # Arrange
    async with FalkorGraph(url=falkordb.url, graph=graph_name):
        pass  # migrated

    # Act
    async with Redis.from_url(falkordb.url, decode_responses=True) as client:
        plan = await client.execute_command(
            "GRAPH.EXPLAIN", graph_name, f"CYPHER id='{STORY}' before=0 limit=50 {RECENT_HISTORY}"
        )

    # Assert
    assert any(f"Node By Index Scan | (c:{CHANGE_LABEL})" in step for step in plan)


async def test_a_story_without_a_seq_counter_still_pages_its_records(graph: FalkorGraph) -> None:
    # Arrange
    await graph.write_rows(UNCOUNTED, {"id": STORY, "seqs": [1, 2, 3, 4, 5]}, "legacy")

    # Act
    first = await graph.history(STORY, limit=2)
    rest = await graph.history(STORY, limit=10, before_seq=first[-1].seq)

    # Assert
    assert [r.seq for r in first] + [r.seq for r in rest] == [5, 4, 3, 2, 1]
