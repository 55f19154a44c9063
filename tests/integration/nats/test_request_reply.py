"""Request/response subjects: each requester gets its own response, with its correlation id echoed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client

from context_service.adapters.nats.client import envelope_event, request
from context_service.adapters.system import SystemClock
from tests.integration.nats.support import Ids, payloads_of, running_app, seed_story, stream_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
REQUESTERS = 8


def update_event(ids: Ids, n: int) -> Any:
    """An UpdateContext request adding milestone `n` to the story."""
    change = {
        "operation": "CREATE",
        "entity_type": "MILESTONE",
        "entity_id": f"{ids.milestone}-{n}",
        "payload": {"event_type": "progress", "description": f"step {n}"},
        "reason": "progress",
    }
    return envelope_event(
        "context.update.request",
        {"story_id": ids.story, "role": "developer", "changes": [change]},
        idempotency_key=f"update-{ids.run}-{n}",
        correlation_id=f"corr-{ids.run}-{n}",
    )


async def ask(nc: Client, event: Any) -> dict[str, Any]:
    """Send a request and wait for its response."""
    return await request(nc, event, now_ms=SystemClock().now_ms())


async def test_a_requester_gets_the_update_response_on_its_reply_inbox(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        response = await ask(nc, update_event(ids, 1))

    # Assert
    assert (response["event_type"], response["correlation_id"], response["causation_id"]) == (
        "context.update.response",
        f"corr-{ids.run}-1",
        f"update-{ids.run}-1",
    )
    payload = response["payload"]
    assert (payload["story_id"], payload["status"], payload["version"], payload["warnings"]) == (
        ids.story,
        "success",
        1,
        [],
    )


async def test_concurrent_requesters_each_get_the_response_with_their_correlation_id(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        responses = await asyncio.gather(*(ask(nc, update_event(ids, n)) for n in range(REQUESTERS)))

    # Assert
    assert [r["correlation_id"] for r in responses] == [f"corr-{ids.run}-{n}" for n in range(REQUESTERS)]
    assert sorted(r["payload"]["version"] for r in responses) == list(range(1, REQUESTERS + 1))


async def test_the_response_is_also_published_on_the_shared_response_subject(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        await ask(nc, update_event(ids, 1))
        await eventually(lambda: _responses(nc, 1))

    # Assert
    [response] = payloads_of(await stream_messages(nc, "context.update.response"))
    assert (response["correlation_id"], response["payload"]["status"]) == (f"corr-{ids.run}-1", "success")


async def test_a_repeated_request_gets_the_recorded_response_without_a_second_update(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)
        first = await ask(nc, update_event(ids, 1))

        # Act
        second = await ask(nc, update_event(ids, 1))

        # Assert
        assert second["payload"] == first["payload"]
        assert len([r for r in await app.graph.history(ids.story) if r.version]) == 1


async def test_a_rehydrate_request_is_answered_with_the_pack_count_and_stats(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    event = envelope_event(
        "context.rehydrate.request",
        {"case_id": ids.story, "roles": ["developer", "qa"], "include_timeline": True},
        idempotency_key=f"rehydrate-{ids.run}",
        correlation_id=f"corr-{ids.run}",
    )
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)

        # Act
        response = await ask(nc, event)

    # Assert
    payload = response["payload"]
    assert (response["event_type"], response["correlation_id"]) == (
        "context.rehydrate.response",
        f"corr-{ids.run}",
    )
    assert (payload["case_id"], payload["status"], payload["packs_count"]) == (ids.story, "success", 2)
    assert payload["stats"]["roles"] == ["developer", "qa"]


async def _responses(nc: Client, count: int) -> bool:
    return len(await stream_messages(nc, "context.update.response")) == count
