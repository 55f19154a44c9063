"""NATS integration fixtures: the shared server emptied per test, or a private server a test may stop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from context_service.local_servers import LocalServer, nats_server
from tests.integration.nats.support import clean_streams
from tests.support.servers import start_or_fail


@pytest.fixture
async def nats_url(nats: LocalServer) -> str:
    """The session's nats-server, with PLANNING_EVENTS, ORCHESTRATOR_EVENTS and CONTEXT emptied."""
    await clean_streams(nats.url)
    return nats.url


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[LocalServer]:
    """A nats-server of this test alone (it may stop and restart it; data survives a restart)."""
    server = start_or_fail(nats_server(tmp_path / "nats"))
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A fleet-side client of the shared server."""
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()
