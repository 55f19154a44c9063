"""A message whose every delivery times out (no consumer answers) ends in its dead-letter subject."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from context_service.adapters.nats.advisories import EXHAUSTED_REASON
from tests.integration.nats.support import Ids, publish, running_app, stream_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SUBJECT = "planning.project.created"
DURABLE = "context-planning-project-created"
ACK_WAIT_S = 0.5


async def fetch_and_drop(nc: Client, rounds: int) -> int:
    """A consumer on the service's durable that takes each delivery and never answers it; deliveries seen."""
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_deliver=2)
    subscription = await nc.jetstream().pull_subscribe(SUBJECT, durable=DURABLE, config=config)
    seen = 0
    try:
        for _ in range(rounds):
            try:
                seen += len(await subscription.fetch(1, timeout=ACK_WAIT_S * 2))
            except TimeoutError:  # nothing (re)delivered within the wait: ask again
                continue
    finally:
        await subscription.unsubscribe()
    return seen


async def test_a_message_whose_every_delivery_times_out_is_dead_lettered_with_the_reason(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url, start_consumers=False):
        await publish(nc, SUBJECT, {"project_id": ids.project, "name": "Shop"}, key=f"project-{ids.run}")

        # Act
        deliveries = await fetch_and_drop(nc, rounds=4)

        # Assert
        async def dead_lettered() -> bool:
            return len(await stream_messages(nc, f"context.dlq.{SUBJECT}")) == 1

        await eventually(dead_lettered)
    [copy] = await stream_messages(nc, f"context.dlq.{SUBJECT}")
    assert deliveries == 2
    assert copy.headers is not None
    assert (copy.headers["Dlq-Reason"], copy.headers["Dlq-Deliveries"], copy.headers["Dlq-Subject"]) == (
        EXHAUSTED_REASON,
        "2",
        SUBJECT,
    )
    assert ids.project in copy.data.decode()
