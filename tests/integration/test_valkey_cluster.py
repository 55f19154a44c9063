"""The Valkey adapters on a 3+3 Valkey Cluster: errors, keys on every primary, writes on the replicas."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.config import ValkeySettings
from context_service.local_cluster import BUS_OFFSET, LocalCluster
from context_service.local_servers import LOOPBACK, LocalServer, free_port
from context_service.ports.errors import PortError, StoreUnavailable
from tests.conformance.backends import valkey_client

pytestmark = pytest.mark.integration


def prefix() -> str:
    """A key prefix of one test."""
    return f"ctx:cluster-test:{uuid.uuid4().hex}:"


async def replica_of(cluster: LocalCluster, key: str) -> Redis:
    """A read-only client of the replica of the primary that serves `key`."""
    primary = cluster.primary_of(key)
    async with Redis(host=LOOPBACK, port=primary.port, decode_responses=True) as client:
        primary_id = await client.execute_command("CLUSTER", "MYID")
        [line] = await client.execute_command("CLUSTER", "REPLICAS", primary_id)
    port = int(str(line).split()[1].split("@")[0].rsplit(":", 1)[1])  # "<id> ip:port@bus …"
    replica = Redis(host=LOOPBACK, port=port, decode_responses=True)
    await replica.execute_command("READONLY")
    return replica


def test_every_node_and_its_bus_listen_below_the_kernels_ephemeral_range(
    valkey_cluster: LocalCluster,
) -> None:
    # Arrange: ports the kernel may hand to any connecting socket meanwhile
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if floor < 21_001:  # as `cluster_port`: below that, it draws from the old range
        pytest.skip(f"the ephemeral range starts at {floor}: no room for node and bus ports below it")

    # Act
    ports = [port for node in valkey_cluster.nodes for port in (node.port, node.port + BUS_OFFSET)]

    # Assert
    assert all(port < floor for port in ports), ports


async def test_a_cluster_that_cannot_be_reached_is_store_unavailable() -> None:
    # Arrange
    settings = ValkeySettings(VALKEY_URL=f"redis://{LOOPBACK}:{free_port()}", VALKEY_CLUSTER=True)

    # Act / Assert
    with pytest.raises(StoreUnavailable):
        async with ValkeyClient(settings=settings, timeout_seconds=1):
            pass


async def test_cluster_mode_against_a_single_node_is_store_unavailable(valkey: LocalServer) -> None:
    # Arrange
    settings = ValkeySettings(VALKEY_URL=valkey.url, VALKEY_CLUSTER=True)

    # Act / Assert
    with pytest.raises(StoreUnavailable):
        async with ValkeyClient(settings=settings, timeout_seconds=1):
            pass


async def test_list_keys_finds_the_keys_of_every_primary(valkey_cluster: LocalCluster) -> None:
    # Arrange
    chosen = prefix()
    keys = [f"k{i}" for i in range(60)]
    async with valkey_client(valkey_cluster) as client:
        kv = ValkeyKeyValueStore(client=client, prefix=chosen)
        await kv.set_many({k: {"k": k} for k in keys})

        # Act
        listed = await kv.list_keys("*")

    # Assert
    assert listed == sorted(keys)
    assert len({valkey_cluster.primary_of(chosen + k).port for k in keys}) == 3


async def test_a_batch_write_across_slots_is_on_each_replica_when_it_returns(
    valkey_cluster: LocalCluster,
) -> None:
    # Arrange
    chosen = prefix()
    keys = [f"k{i}" for i in range(12)]

    # Act
    async with valkey_client(valkey_cluster) as client:
        await ValkeyKeyValueStore(client=client, prefix=chosen).set_many({k: {"k": k} for k in keys})

    # Assert: WAIT 1 returned, so every replica already holds its primary's share
    for key in keys:
        replica = await replica_of(valkey_cluster, chosen + key)
        try:
            assert json.loads(await replica.get(chosen + key)) == {"version": 1, "value": {"k": key}}
        finally:
            await replica.aclose()


async def test_calls_in_flight_when_the_client_drops_its_connections_fail_only_as_unavailable(
    valkey_cluster: LocalCluster,
) -> None:
    # Arrange: on CLUSTERDOWN or a failed node the cluster client closes every connection, in use or not
    chosen = prefix()
    keys = [f"k{i}" for i in range(20)]
    outcomes: Counter[str] = Counter()
    async with valkey_client(valkey_cluster) as client:
        kv = ValkeyKeyValueStore(client=client, prefix=chosen)
        await kv.set_many({k: {"k": k} for k in keys})

        async def reader() -> None:
            for _ in range(40):
                try:
                    await kv.get_many(keys)
                except PortError as exc:
                    outcomes[type(exc).__name__] += 1
                else:
                    outcomes["ok"] += 1

        async def dropper() -> None:
            for _ in range(25):
                await asyncio.sleep(0.01)
                async with client.call("test.drop_connections") as redis:
                    await redis.aclose()

        # Act
        await asyncio.gather(*(reader() for _ in range(20)), dropper())

    # Assert
    assert set(outcomes) <= {"ok", "StoreUnavailable"}
    assert outcomes["ok"] > 0
