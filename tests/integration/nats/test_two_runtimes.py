"""Two service instances share the durables and one graph store: a burst is applied exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from nats.aio.client import Client

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.nats.client import envelope_event
from context_service.adapters.nats.consumers import AfterEffect
from context_service.adapters.nats.envelope import encode_envelope, outbound_headers
from context_service.adapters.system import SystemClock
from tests.integration.nats.support import Ids, deliberation, running_app, seed_story, version_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SUBJECT = "orchestration.deliberation.completed"
EVENTS, STORIES = 1000, 10


async def publish_burst(nc: Client, ids: Ids) -> None:
    """EVENTS deliberations spread over STORIES stories, each with its own decision and key."""
    js, now_ms = nc.jetstream(), SystemClock().now_ms()
    acks = []
    for n in range(EVENTS):
        story = f"{ids.story}-{n % STORIES}"
        event = envelope_event(
            SUBJECT,
            deliberation(story, f"{story}-T", f"{ids.decision}-{n}"),
            idempotency_key=f"burst-{ids.run}-{n}",
            correlation_id=f"corr-{ids.run}-{n}",
        )
        headers = outbound_headers(event.idempotency_key)
        acks.append(await js.publish_async(SUBJECT, encode_envelope(event, now_ms=now_ms), headers=headers))
    await asyncio.gather(*acks)  # every event stored (a failed publish fails the test here)


async def test_two_runtimes_apply_a_burst_of_events_exactly_once(nats_url: str, nc: Client) -> None:
    # Arrange
    ids, graph = Ids.new(), InMemoryGraph()
    handled: Counter[str] = Counter()

    def recorder(runtime: str) -> AfterEffect:
        async def record(subject: str, key: str) -> bool:
            handled[runtime] += 1
            return True

        return record

    async with (
        running_app(nats_url, graph=graph, after_effect=recorder("a")) as first,
        running_app(nats_url, graph=graph, after_effect=recorder("b")),
    ):
        for s in range(STORIES):
            await seed_story(first, f"{ids.story}-{s}", f"{ids.story}-{s}-T")

        # Act
        await publish_burst(nc, ids)
        await eventually(lambda: _all_applied(graph, ids), within=60)

    # Assert
    versions = [await version_of(graph, f"{ids.story}-{s}") for s in range(STORIES)]
    histories = [
        len([r for r in await graph.history(f"{ids.story}-{s}", limit=2 * EVENTS) if r.version])
        for s in range(STORIES)
    ]
    decisions = 0
    for s in range(STORIES):
        story = await graph.load_story_graph(f"{ids.story}-{s}")
        assert story is not None
        decisions += len(story.decisions)
    per_story = EVENTS // STORIES
    assert (versions, histories, decisions) == ([per_story] * STORIES, [per_story] * STORIES, EVENTS)
    assert handled["a"] > 0
    assert handled["b"] > 0


async def _all_applied(graph: InMemoryGraph, ids: Ids) -> bool:
    total = 0
    for s in range(STORIES):
        total += max(0, await version_of(graph, f"{ids.story}-{s}"))
    return total >= EVENTS
