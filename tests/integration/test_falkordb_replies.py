"""Compact replies of a real FalkorDB decoded by `reply_rows` exactly as the falkordb client decodes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from falkordb.asyncio.graph import AsyncGraph
from falkordb.query_result import QueryResult
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from context_service.adapters.falkordb.replies import reply_rows
from context_service.local_servers import LocalServer

pytestmark = pytest.mark.integration

EVERY_KIND = """
CREATE (n:Probe {id: 'p-1', name: 'Zoë', size: 3, ratio: 0.25, big: 12345678901234, ok: true, tags: ['a']})
RETURN null, '', 'text with "quotes", \\\\ and\nlines', 0, -7, 12345678901234, true, false, 1.5, -0.0,
  [1, 'two', [3.0, null], {k: 'v'}], {s: 'x', n: 2, f: 2.5, b: false, z: null, l: [1, 2], m: {deep: [true]}},
  {}, [], properties(n), point({latitude: 1.5, longitude: 2.5})
"""


@pytest.fixture
async def client(falkordb: LocalServer) -> AsyncIterator[Redis]:
    """A decoding connection to the session's FalkorDB, as the adapter opens it."""
    async with Redis.from_url(falkordb.url, decode_responses=True) as connection:
        yield connection


async def _compact(client: Redis, graph_name: str, query: str) -> Any:
    return await client.execute_command("GRAPH.QUERY", graph_name, query, "--compact")


async def test_every_value_kind_decodes_as_the_client_decodes_it(client: Redis, graph_name: str) -> None:
    # Arrange
    graph = AsyncGraph(client, graph_name)
    reply = await _compact(client, graph_name, EVERY_KIND)

    # Act
    rows = reply_rows(graph, reply)

    # Assert (nodes and edges, which need the graph's schema, are never returned by the adapters' statements)
    assert rows == [list(row) for row in QueryResult(graph, reply).result_set]
    assert rows[0][:10] == [
        None,
        "",
        'text with "quotes", \\ and\nlines',
        0,
        -7,
        12345678901234,
        True,
        False,
        1.5,
        -0.0,
    ]


async def test_a_statement_without_rows_gives_no_rows(client: Redis, graph_name: str) -> None:
    # Arrange
    graph = AsyncGraph(client, graph_name)
    reply = await _compact(client, graph_name, "CREATE (:Probe {id: 'p-2'})")

    # Act
    rows = reply_rows(graph, reply)

    # Assert
    assert rows == []


async def test_an_error_in_place_of_the_statistics_is_raised_as_the_client_raises_it(
    client: Redis, graph_name: str
) -> None:
    # Arrange: the shape of a reply whose statement failed after its header (the error comes last)
    graph = AsyncGraph(client, graph_name)
    header, rows, _statistics = await _compact(client, graph_name, "UNWIND [1, 2] AS x RETURN x")
    failed = [header, rows, ResponseError("Division by zero")]

    # Act / Assert
    with pytest.raises(ResponseError, match="Division by zero"):
        reply_rows(graph, failed)
