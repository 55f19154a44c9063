"""A slow FalkorDB reply is bounded by the store timeout the service is given, not by the driver's default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import falkordb_server
from tests.support.servers import start_or_fail, stopped

pytestmark = pytest.mark.integration


async def test_a_reply_slower_than_the_drivers_default_socket_timeout_waits_for_the_store_timeout(
    tmp_path: Path,
) -> None:
    # Arrange: redis-py gives up on a socket after 5 s unless told otherwise; the store timeout here is 8 s
    server = start_or_fail(falkordb_server(tmp_path))
    try:
        async with FalkorGraph(url=server.url, graph="slow_replies", timeout_seconds=8.0) as graph:
            started = asyncio.get_running_loop().time()

            # Act
            with stopped(server, resume_after=5.5):
                await graph.ping()

            # Assert
            assert asyncio.get_running_loop().time() - started >= 5.5
    finally:
        server.stop()
