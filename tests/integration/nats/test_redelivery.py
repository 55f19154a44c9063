"""Redelivery and re-publication never duplicate nodes, edges, history entries or version bumps."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from nats.aio.client import Client

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats.consumers import dedup_key
from context_service.domain.model import StoryGraph
from tests.integration.nats.support import (
    App,
    Ids,
    consumer_state,
    counter,
    deliberation,
    payloads_of,
    publish,
    running_app,
    seed_story,
    stream_messages,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SUBJECT = "orchestration.deliberation.completed"
DURABLE = "context-orch-deliberation-completed"


async def loaded(graph: InMemoryGraph, story_id: str) -> StoryGraph:
    """The story's graph."""
    found = await graph.load_story_graph(story_id)
    assert found is not None
    return found


async def effect_counts(graph: InMemoryGraph, story_id: str) -> tuple[int, int, int, int]:
    """(decisions, INFLUENCED_BY edges, history entries, version) of a story."""
    story = await loaded(graph, story_id)
    edges = sum(len(d.influences) for d in story.decisions)
    history = [r for r in await graph.history(story_id) if r.version]  # the version bumps' records
    return len(story.decisions), edges, len(history), story.story.context_version


async def test_a_consumer_stopped_between_effect_and_ack_applies_the_event_once_after_restart(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    graph, kv = InMemoryGraph(), InMemoryKeyValueStore()
    dropped = asyncio.Event()

    async def stop_before_ack(subject: str, key: str) -> bool:
        dropped.set()
        return False  # as if the process stopped here: no dedup record, no ack

    async with running_app(nats_url, graph=graph, kv=kv, after_effect=stop_before_ack) as first:
        await seed_story(first, ids.story, ids.task)
        await publish(nc, SUBJECT, deliberation(ids.story, ids.task, ids.decision), key=f"k-{ids.run}")
        await eventually(lambda: _is_set(dropped))
    applied_once = await effect_counts(graph, ids.story)

    # Act
    async with running_app(nats_url, graph=graph, kv=kv):
        await eventually(lambda: _has(kv, dedup_key(SUBJECT, f"k-{ids.run}")))

    # Assert
    assert applied_once == (1, 1, 1, 1)
    assert await effect_counts(graph, ids.story) == (1, 1, 1, 1)
    announced = payloads_of(await stream_messages(nc, "context.events.updated"))
    assert [e["payload"]["version"] for e in announced if e["payload"]["story_id"] == ids.story] == [1]


async def test_the_same_event_published_twice_under_other_msg_ids_has_one_effect(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    payload = deliberation(ids.story, ids.task, ids.decision)
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)

        # Act
        await publish(nc, SUBJECT, payload, key=f"k-{ids.run}", msg_id=f"first-{ids.run}")
        await publish(nc, SUBJECT, payload, key=f"k-{ids.run}", msg_id=f"second-{ids.run}")
        await eventually(lambda: _all_settled(nc))

        # Assert
        assert await effect_counts(app.graph, ids.story) == (1, 1, 1, 1)


async def test_a_repeat_after_the_dedup_record_expired_still_has_one_effect(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    payload = deliberation(ids.story, ids.task, ids.decision)
    key = f"k-{ids.run}"
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)
        await publish(nc, SUBJECT, payload, key=key, msg_id=f"first-{ids.run}")
        await eventually(lambda: _has(app.kv, dedup_key(SUBJECT, key)))
        await app.kv.delete(dedup_key(SUBJECT, key))  # as after its TTL

        # Act
        await publish(nc, SUBJECT, payload, key=key, msg_id=f"second-{ids.run}")
        await eventually(lambda: _has(app.kv, dedup_key(SUBJECT, key)))

        # Assert
        assert await effect_counts(app.graph, ids.story) == (1, 1, 1, 1)


async def test_a_recorded_idempotency_key_is_acknowledged_without_reapplying(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    payload = deliberation(ids.story, ids.task, ids.decision)
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)
        await publish(nc, SUBJECT, payload, key=f"k-{ids.run}", msg_id=f"first-{ids.run}")
        await eventually(lambda: _has(app.kv, dedup_key(SUBJECT, f"k-{ids.run}")))
        before = counter("deduplicated", DURABLE)

        # Act
        await publish(nc, SUBJECT, payload, key=f"k-{ids.run}", msg_id=f"second-{ids.run}")
        await eventually(lambda: _counter_above("deduplicated", before))

        # Assert
        assert await effect_counts(app.graph, ids.story) == (1, 1, 1, 1)


async def test_stopping_finishes_the_message_in_flight_before_returning(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(subject: str, key: str) -> bool:
        started.set()
        await release.wait()
        return True

    stack = AsyncExitStack()
    app: App = await stack.enter_async_context(running_app(nats_url, after_effect=hold))
    await seed_story(app, ids.story, ids.task)
    await publish(nc, SUBJECT, deliberation(ids.story, ids.task, ids.decision), key=f"k-{ids.run}")
    await eventually(lambda: _is_set(started))

    # Act
    stopping = asyncio.create_task(stack.aclose())
    release.set()
    await stopping

    # Assert
    assert await app.kv.get(dedup_key(SUBJECT, f"k-{ids.run}")) is not None
    assert await consumer_state(nc, "ORCHESTRATOR_EVENTS", DURABLE) == (0, 0)


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _has(kv: InMemoryKeyValueStore, key: str) -> bool:
    return await kv.get(key) is not None


async def _counter_above(name: str, before: float) -> bool:
    return counter(name, DURABLE) > before


async def _all_settled(nc: Client) -> bool:
    return await consumer_state(nc, "ORCHESTRATOR_EVENTS", DURABLE) == (0, 0)
