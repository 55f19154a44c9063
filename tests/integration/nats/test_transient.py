"""A graph store that is down: messages are nak'd with backoff and applied once it is back; none is lost."""

from __future__ import annotations

import dataclasses

import pytest
from nats.aio.client import Client

from tests.integration.nats.support import (
    FAST,
    FlakyGraph,
    Ids,
    counter,
    deliberation,
    publish,
    running_app,
    seed_story,
    stream_messages,
    version_of,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SUBJECT = "orchestration.deliberation.completed"
DURABLE = "context-orch-deliberation-completed"
EVENTS = 5


async def test_events_refused_by_a_down_store_are_applied_after_it_returns(nats_url: str, nc: Client) -> None:
    # Arrange
    ids, graph = Ids.new(), FlakyGraph()
    failed = counter("failed", DURABLE)
    async with running_app(nats_url, graph=graph) as app:
        await seed_story(app, ids.story, ids.task)
        graph.down = True
        for n in range(EVENTS):
            await publish(
                nc, SUBJECT, deliberation(ids.story, ids.task, f"{ids.decision}-{n}"), key=f"{ids.run}-{n}"
            )
        await eventually(lambda: _failed_above(failed + EVENTS))

        # Act
        graph.down = False
        await eventually(lambda: _version_is(graph, ids.story, EVENTS))

    # Assert
    assert len([r for r in await graph.history(ids.story, limit=2 * EVENTS) if r.version]) == EVENTS
    assert await stream_messages(nc, f"context.dlq.{SUBJECT}") == []


async def test_refused_events_are_redelivered_rather_than_dropped(nats_url: str, nc: Client) -> None:
    # Arrange
    ids, graph = Ids.new(), FlakyGraph()
    redelivered = counter("redelivered", DURABLE)
    async with running_app(nats_url, graph=graph) as app:
        await seed_story(app, ids.story, ids.task)
        graph.down = True

        # Act
        await publish(nc, SUBJECT, deliberation(ids.story, ids.task, ids.decision), key=f"k-{ids.run}")
        await eventually(lambda: _redelivered_above(redelivered))
        graph.down = False
        await eventually(lambda: _version_is(graph, ids.story, 1))

    # Assert
    assert graph.refused >= 2


async def test_the_last_allowed_delivery_failing_is_dead_lettered(nats_url: str, nc: Client) -> None:
    # Arrange
    ids, graph = Ids.new(), FlakyGraph()
    settings = dataclasses.replace(FAST, max_deliver=3)
    async with running_app(nats_url, graph=graph, settings=settings) as app:
        await seed_story(app, ids.story, ids.task)
        graph.down = True

        # Act
        await publish(nc, SUBJECT, deliberation(ids.story, ids.task, ids.decision), key=f"k-{ids.run}")
        await eventually(lambda: _dead_lettered(nc))

    # Assert
    [copy] = await stream_messages(nc, f"context.dlq.{SUBJECT}")
    assert copy.headers is not None
    assert (copy.headers["Dlq-Reason"], copy.headers["Dlq-Deliveries"]) == (
        "a backing store is unavailable; retry later",
        "3",
    )


async def _failed_above(count: float) -> bool:
    return counter("failed", DURABLE) >= count


async def _redelivered_above(count: float) -> bool:
    return counter("redelivered", DURABLE) > count


async def _version_is(graph: FlakyGraph, story_id: str, version: int) -> bool:
    return not graph.down and await version_of(graph, story_id) == version


async def _dead_lettered(nc: Client) -> bool:
    return len(await stream_messages(nc, f"context.dlq.{SUBJECT}")) == 1
