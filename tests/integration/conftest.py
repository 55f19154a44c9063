"""Fixtures shared by the integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from context_service.local_servers import LocalServer


@pytest.fixture
async def graph_name(falkordb: LocalServer) -> AsyncIterator[str]:
    """A fresh graph name on the session's FalkorDB, its graph deleted afterwards."""
    name = f"it-{uuid.uuid4().hex}"
    yield name
    async with Redis.from_url(falkordb.url) as client:
        await client.delete(name)
