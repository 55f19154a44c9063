"""The outbox relay re-sends what it holds oldest first, whichever stories the records belong to."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.config import NatsSettings
from context_service.ports.events import OutboundEvent
from tests.integration.nats.support import Ids, payloads_of, stream_messages
from tests.support.fakes import FixedClock

pytestmark = pytest.mark.integration
UPDATED = "context.events.updated"


def updated(story_id: str) -> OutboundEvent:
    """A context.updated event of one story."""
    return OutboundEvent(
        subject=UPDATED,
        event_type="context.updated",
        payload={"story_id": story_id, "version": 1},
        idempotency_key=f"context.updated:{story_id}:v1",
        correlation_id=f"corr-{story_id}",
    )


async def test_records_of_several_stories_are_relayed_in_the_order_they_were_recorded(
    nats_url: str, nc: Client
) -> None:
    # Arrange: recorded while disconnected, the later stories sorting first by name
    ids = Ids.new()
    clock = FixedClock(step_ms=1)
    publisher = OutboxPublisher(kv=InMemoryKeyValueStore(), clock=clock)
    stories = [f"S-{ids.run}-{name}" for name in ("c", "b", "a")]
    for story in stories:
        await publisher.publish(updated(story))

    # Act
    async with NatsConnection(settings=NatsSettings(NATS_URL=nats_url), startup_timeout=5.0) as connection:
        publisher.attach(connection)
        relayed = await publisher.flush()

    # Assert
    sent = [p["payload"]["story_id"] for p in payloads_of(await stream_messages(nc, UPDATED))]
    assert (relayed, sent) == (3, stories)
