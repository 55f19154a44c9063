"""The assembled service on a 3+3 Valkey Cluster: idempotent UpdateContext, outbox delivery and relay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable

import nats as nats_client
import pytest
from nats.aio.client import Client

from context_service.adapters.nats.publisher import OUTBOX_PREFIX, OutboxPublisher
from context_service.adapters.system import SystemClock
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.application.common import UPDATED_SUBJECT
from context_service.local_cluster import LocalCluster
from context_service.local_servers import LocalServer
from context_service.ports.events import OutboundEvent
from tests.conformance.backends import raw_client, valkey_client
from tests.integration.nats.support import payloads_of, stream_messages
from tests.support.cluster_service import cluster_settings, service_on_cluster
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def story() -> str:
    """A story id of this test alone (the cluster, graph server and NATS are shared)."""
    return f"CL-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def nc(nats: LocalServer) -> AsyncIterator[Client]:
    """A fleet-side client of the session's NATS."""
    connection = await nats_client.connect(nats.url)
    yield connection
    await connection.close()


async def updated_events_of(nc: Client, story: str) -> list[int]:
    """The versions announced on context.events.updated for one story."""
    payloads = payloads_of(await stream_messages(nc, UPDATED_SUBJECT))
    return [p["payload"]["version"] for p in payloads if p["payload"].get("story_id") == story]


async def outbox_keys(cluster: LocalCluster, story: str) -> list[str]:
    """The story's outbox records left on the cluster (SCAN of every primary)."""
    raw = raw_client(cluster)
    try:
        return [str(k) async for k in raw.scan_iter(match=f"{OUTBOX_PREFIX}{{{story}}}:*")]
    finally:
        await raw.aclose()


async def test_a_retried_update_on_the_cluster_is_applied_once_and_replays_its_response(
    valkey_cluster: LocalCluster, falkordb: LocalServer, nats: LocalServer, story: str
) -> None:
    # Arrange
    settings = cluster_settings(valkey_cluster, falkordb, nats)
    async with service_on_cluster(settings) as service:
        await service.create_story(story)
        first = await service.add_milestone(story, "M-1", idempotency_key="k1")

        # Act
        retry = await service.add_milestone(story, "M-1", idempotency_key="k1")
        after = await service.add_milestone(story, "M-2", idempotency_key="k2")

    # Assert
    assert retry == first
    assert (first.version, after.version) == (1, 2)
    raw = raw_client(valkey_cluster)
    try:
        records = [k async for k in raw.scan_iter(match=f"ctx:idem:update:{{{story}}}:*")]
    finally:
        await raw.aclose()
    assert sorted(records) == [f"ctx:idem:update:{{{story}}}:k1", f"ctx:idem:update:{{{story}}}:k2"]


async def test_an_update_on_the_cluster_is_announced_once_and_its_outbox_record_is_forgotten(
    valkey_cluster: LocalCluster, falkordb: LocalServer, nats: LocalServer, nc: Client, story: str
) -> None:
    # Arrange
    settings = cluster_settings(valkey_cluster, falkordb, nats)
    async with service_on_cluster(settings) as service:
        await service.create_story(story)

        # Act
        await service.add_milestone(story, "M-1", idempotency_key="k1")
        await service.add_milestone(story, "M-1", idempotency_key="k1")

        # Assert
        await eventually(lambda: _equals(updated_events_of(nc, story), [1]), what="one announcement")
        await eventually(lambda: _equals(outbox_keys(valkey_cluster, story), []), what="empty outbox")
        assert await updated_events_of(nc, story) == [1]  # nothing more was relayed while it emptied


async def test_events_left_in_the_cluster_outbox_are_relayed_at_start_up(
    valkey_cluster: LocalCluster, falkordb: LocalServer, nats: LocalServer, nc: Client, story: str
) -> None:
    # Arrange: recorded while NATS was out of reach (a publisher with no connection only records)
    async with valkey_client(valkey_cluster) as client:
        recorder = OutboxPublisher(kv=ValkeyKeyValueStore(client=client, prefix=""), clock=SystemClock())
        for version in (1, 2, 3):
            await recorder.publish(_updated(story, version))
    assert len(await outbox_keys(valkey_cluster, story)) == 3

    # Act
    async with service_on_cluster(cluster_settings(valkey_cluster, falkordb, nats)):
        # Assert
        await eventually(lambda: _equals(updated_events_of(nc, story), [1, 2, 3]), what="relayed events")
        await eventually(lambda: _equals(outbox_keys(valkey_cluster, story), []), what="empty outbox")
        assert await updated_events_of(nc, story) == [1, 2, 3]  # each relayed once


def _updated(story: str, version: int) -> OutboundEvent:
    return OutboundEvent(
        subject=UPDATED_SUBJECT,
        event_type="context.updated",
        payload={"story_id": story, "version": version},
        idempotency_key=f"context.updated:{story}:v{version}",
        correlation_id=f"c-{story}-{version}",
    )


async def _equals(found: Awaitable[object], expected: object) -> bool:
    return await found == expected
