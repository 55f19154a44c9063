"""The Valkey key-value store beyond the conformance suite: stored format, prefixes, scripts, persistence."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.local_servers import LocalServer, valkey_server
from context_service.ports.kv import Versioned
from tests.conformance.backends import unique_prefix, valkey_client
from tests.support.servers import start_or_fail

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(valkey: LocalServer) -> AsyncIterator[Redis]:
    """A plain client of the session server."""
    client = Redis.from_url(valkey.url, decode_responses=True)
    yield client
    await client.aclose()


async def test_values_are_stored_as_json_documents_with_their_version_under_the_prefix(
    valkey: LocalServer, raw: Redis
) -> None:
    # Arrange
    prefix = unique_prefix()
    async with valkey_client(valkey) as client:
        kv = ValkeyKeyValueStore(client=client, prefix=prefix)

        # Act
        await kv.set("k", {"n": 1, "l": []})
        await kv.set("k", {"n": 2, "l": []}, ttl=30)

    # Assert
    assert json.loads(await raw.get(f"{prefix}k")) == {"version": 2, "value": {"n": 2, "l": []}}
    assert 29_000 < await raw.pttl(f"{prefix}k") <= 30_000


async def test_stores_with_different_prefixes_do_not_see_each_other(valkey: LocalServer) -> None:
    # Arrange
    async with valkey_client(valkey) as client:
        first = ValkeyKeyValueStore(client=client, prefix=unique_prefix())
        second = ValkeyKeyValueStore(client=client, prefix=unique_prefix())
        await first.set("k", {"store": 1})

        # Act
        seen = (await second.get("k"), await second.list_keys("*"), await second.get_many(["k"]))
        await second.delete("k")

        # Assert
        assert seen == (None, [], {})
        assert await first.get_versioned("k") == Versioned({"store": 1}, 1)


async def test_writes_work_after_the_server_forgets_its_scripts(valkey: LocalServer, raw: Redis) -> None:
    # Arrange
    async with valkey_client(valkey) as client:
        kv = ValkeyKeyValueStore(client=client, prefix=unique_prefix())
        await kv.set("k", {"v": 1})
        await raw.script_flush()

        # Act
        await kv.set("k", {"v": 2})
        version = await kv.compare_and_set("k", 2, {"v": 3})

    # Assert
    assert version == 3


async def test_data_survives_a_restart_of_a_persistent_server(tmp_path: Path) -> None:
    # Arrange
    server = start_or_fail(valkey_server(tmp_path, persist=True))
    try:
        async with valkey_client(server) as client:
            kv = ValkeyKeyValueStore(client=client)
            await kv.set("k", {"v": 1})
            await kv.set("k", {"v": 2, "big": 2**62})
            await kv.set("ttl", {"v": 1}, ttl=600)
            server.stop()
            server.start()

            # Act
            versioned = await kv.get_versioned("k")
            keys = await kv.list_keys("*")

        # Assert
        assert (versioned, keys) == (Versioned({"v": 2, "big": 2**62}, 2), ["k", "ttl"])
    finally:
        server.stop()
