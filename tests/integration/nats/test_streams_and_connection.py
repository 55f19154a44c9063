"""Streams are ensured with the 04 §4.1 limits; a differing stream is reported, never altered; the connection
fails start-up clearly after its bound."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from context_service.adapters.nats.client import envelope_event, request
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.streams import DAY, ensure_streams
from context_service.adapters.system import SystemClock
from context_service.config import NatsSettings
from context_service.local_servers import LocalServer, free_port
from context_service.ports.errors import StoreUnavailable
from tests.integration.nats.support import Ids, running_app, seed_story

pytestmark = pytest.mark.integration


async def test_missing_streams_are_created_with_the_specified_limits(private_nats: LocalServer) -> None:
    # Arrange
    nc = await nats.connect(private_nats.url)
    js = nc.jetstream()

    # Act
    differences = await ensure_streams(js)

    # Assert
    limits = {}
    for name in ("PLANNING_EVENTS", "ORCHESTRATOR_EVENTS", "CONTEXT"):
        config = (await js.stream_info(name)).config
        limits[name] = (
            config.subjects,
            config.storage,
            config.max_age,
            config.max_msgs,
            config.duplicate_window,
        )
    await nc.close()
    assert differences == []
    assert limits == {
        "PLANNING_EVENTS": (["planning.>"], "file", 30 * DAY, 1_000_000, 120.0),
        "ORCHESTRATOR_EVENTS": (["orchestration.>"], "file", 7 * DAY, 50_000, 120.0),
        "CONTEXT": (["context.>"], "file", 7 * DAY, 100_000, 120.0),
    }


async def test_a_stream_with_another_configuration_is_reported_and_left_alone(
    private_nats: LocalServer,
) -> None:
    # Arrange
    nc = await nats.connect(private_nats.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="ORCHESTRATOR_EVENTS", subjects=["orchestration.>"], max_age=DAY))

    # Act
    differences = await ensure_streams(js)

    # Assert
    config = (await js.stream_info("ORCHESTRATOR_EVENTS")).config
    await nc.close()
    assert differences == [
        "ORCHESTRATOR_EVENTS: max_age is 86400s, expected 604800s",
        "ORCHESTRATOR_EVENTS: max_msgs is -1, expected 50000",
    ]
    assert (config.max_age, config.max_msgs) == (DAY, -1)


async def test_a_stream_that_cannot_be_created_is_reported(private_nats: LocalServer) -> None:
    # Arrange
    nc = await nats.connect(private_nats.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="LEGACY", subjects=["planning.>"]))

    # Act
    differences = await ensure_streams(js)

    # Assert
    await nc.close()
    assert [d.split(":")[0] for d in differences] == ["PLANNING_EVENTS"]
    assert "cannot be created" in differences[0]


async def test_ensuring_streams_twice_changes_nothing(private_nats: LocalServer) -> None:
    # Arrange
    nc = await nats.connect(private_nats.url)
    js = nc.jetstream()
    await ensure_streams(js)

    # Act
    differences = await ensure_streams(js)

    # Assert
    await nc.close()
    assert differences == []


async def test_a_server_down_at_start_up_fails_with_a_clear_error_after_the_bound() -> None:
    # Arrange
    url = f"nats://127.0.0.1:{free_port()}"
    connection = NatsConnection(settings=NatsSettings(NATS_URL=url), startup_timeout=0.5, reconnect_wait=0.1)

    # Act
    with pytest.raises(StoreUnavailable) as raised:
        await connection.__aenter__()

    # Assert
    assert str(raised.value) == f"NATS at {url} did not answer within 0.5s"


async def test_a_server_that_comes_up_within_the_bound_is_connected(private_nats: LocalServer) -> None:
    # Arrange
    private_nats.stop()
    connection = NatsConnection(
        settings=NatsSettings(NATS_URL=private_nats.url), startup_timeout=20, reconnect_wait=0.1
    )
    entering = asyncio.create_task(connection.__aenter__())
    with pytest.raises(TimeoutError):  # still retrying: neither connected nor given up
        await asyncio.wait_for(asyncio.shield(entering), 0.3)

    # Act
    await asyncio.to_thread(private_nats.start)
    await entering

    # Assert
    try:
        await connection.ping()
    finally:
        await connection.__aexit__(None, None, None)


async def test_an_existing_durable_with_other_fixed_settings_is_used_as_it_is(
    private_nats: LocalServer,
) -> None:
    # Arrange
    nc = await nats.connect(private_nats.url)
    js = nc.jetstream()
    await ensure_streams(js)
    old = ConsumerConfig(
        durable_name="context-update-request",
        filter_subject="context.update.request",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
    )
    await js.add_consumer("CONTEXT", config=old)
    ids = Ids.new()

    # Act
    async with running_app(private_nats.url) as app:
        await seed_story(app, ids.story)
        event = envelope_event(
            "context.update.request",
            {"story_id": ids.story},
            idempotency_key=f"k-{ids.run}",
            correlation_id="c",
        )
        response = await request(nc, event, now_ms=SystemClock().now_ms())

    # Assert
    await nc.close()
    assert response["payload"]["status"] == "success"
