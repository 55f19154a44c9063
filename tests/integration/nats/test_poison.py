"""Poison messages are terminated, dead-lettered with a reason, answered where a requester waits, and never
block the messages behind them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from nats.aio.client import Client

from context_service.adapters.nats.client import envelope_event, request
from context_service.adapters.system import SystemClock
from context_service.application.create_story import StoryRequest
from context_service.application.record_epic import EpicCreated
from context_service.application.record_project import ProjectCreated
from tests.integration.nats.support import (
    App,
    Ids,
    consumer_state,
    counter,
    payloads_of,
    publish,
    publish_raw,
    running_app,
    stream_messages,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
STORY_SUBJECT, STORY_DURABLE = "planning.story.created", "context-planning-story-created"
UPDATE_SUBJECT, UPDATE_DURABLE = "context.update.request", "context-update-request"


@dataclass(frozen=True)
class Poison:
    """How to publish one kind of poison message, and the reason it must be dead-lettered with."""

    subject: str
    send: Callable[[Client, Ids], Awaitable[None]]
    reason: str


async def _bad_json(nc: Client, ids: Ids) -> None:
    await publish_raw(nc, STORY_SUBJECT, b'{"event_type": "planning.story.created", ', f"bad-json-{ids.run}")


async def _bad_envelope(nc: Client, ids: Ids) -> None:
    envelope = {"event_type": "planning.story.created", "payload": {}, "idempotency_key": f"k-{ids.run}"}
    await publish_raw(nc, STORY_SUBJECT, json.dumps(envelope).encode(), f"bad-envelope-{ids.run}")


async def _missing_field(nc: Client, ids: Ids) -> None:
    payload = {"story_id": ids.poisoned, "name": "No epic"}
    await publish(nc, STORY_SUBJECT, payload, key=f"missing-{ids.run}")


async def _unknown_story(nc: Client, ids: Ids) -> None:
    payload = {"story_id": ids.unknown, "changes": []}
    await publish(nc, UPDATE_SUBJECT, payload, key=f"unknown-{ids.run}")


POISONS = {
    "bad-json": Poison(STORY_SUBJECT, _bad_json, "body is not valid JSON"),
    "bad-envelope": Poison(STORY_SUBJECT, _bad_envelope, "envelope field 'correlation_id'"),
    "missing-field": Poison(STORY_SUBJECT, _missing_field, "payload field 'epic_id' is required"),
    "unknown-story": Poison(UPDATE_SUBJECT, _unknown_story, "story 'UNKNOWN-"),
}


async def publish_good_behind(app: App, nc: Client, subject: str, ids: Ids) -> None:
    """A valid message on the same subject, published after the poison."""
    if subject == STORY_SUBJECT:
        await app.container.use_cases.record_project.execute(ProjectCreated(ids.project, "Shop"))
        await app.container.use_cases.record_epic.execute(EpicCreated(ids.epic, ids.project, "Checkout"))
        payload: dict[str, Any] = {"story_id": ids.good, "epic_id": ids.epic, "name": "Good"}
    else:
        await app.container.use_cases.create_story.execute(StoryRequest(ids.good, "Good"))
        change = {
            "operation": "CREATE",
            "entity_type": "MILESTONE",
            "entity_id": ids.milestone,
            "payload": {"event_type": "started", "description": "go"},
        }
        payload = {"story_id": ids.good, "changes": [change]}
    await publish(nc, subject, payload, key=f"good-{ids.run}")


async def _good_applied(app: App, subject: str, ids: Ids) -> bool:
    story = await app.graph.get_story(ids.good)
    if subject == STORY_SUBJECT:
        return story is not None
    return story is not None and story.context_version == 1


@pytest.mark.parametrize("kind", list(POISONS))
async def test_a_poison_message_is_dead_lettered_with_its_reason(
    nats_url: str, nc: Client, kind: str
) -> None:
    # Arrange
    ids, poison = Ids.new(), POISONS[kind]
    async with running_app(nats_url):
        # Act
        await poison.send(nc, ids)
        await eventually(lambda: _dead_letters(nc, poison.subject, 1))

    # Assert
    [copy] = await stream_messages(nc, f"context.dlq.{poison.subject}")
    assert copy.headers is not None
    assert poison.reason in copy.headers["Dlq-Reason"]
    assert (copy.headers["Dlq-Subject"], copy.headers["Dlq-Deliveries"]) == (poison.subject, "1")


@pytest.mark.parametrize("kind", list(POISONS))
async def test_a_poison_message_never_blocks_the_messages_behind_it(
    nats_url: str, nc: Client, kind: str
) -> None:
    # Arrange
    ids, poison = Ids.new(), POISONS[kind]
    async with running_app(nats_url) as app:
        await poison.send(nc, ids)

        # Act
        await publish_good_behind(app, nc, poison.subject, ids)

        # Assert
        await eventually(lambda: _good_applied(app, poison.subject, ids))


@pytest.mark.parametrize("kind", list(POISONS))
async def test_a_poison_message_is_terminated_not_redelivered(nats_url: str, nc: Client, kind: str) -> None:
    # Arrange
    ids, poison = Ids.new(), POISONS[kind]
    durable = STORY_DURABLE if poison.subject == STORY_SUBJECT else UPDATE_DURABLE
    stream = "PLANNING_EVENTS" if poison.subject == STORY_SUBJECT else "CONTEXT"
    redelivered = counter("redelivered", durable)
    async with running_app(nats_url):
        # Act
        await poison.send(nc, ids)
        await eventually(lambda: _dead_letters(nc, poison.subject, 1))

        # Assert
        assert await consumer_state(nc, stream, durable) == (0, 0)
    assert counter("redelivered", durable) == redelivered


async def test_a_request_for_an_unknown_story_is_answered_with_an_error(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    event = envelope_event(
        UPDATE_SUBJECT,
        {"story_id": ids.unknown, "changes": []},
        idempotency_key=f"unknown-{ids.run}",
        correlation_id=f"corr-{ids.run}",
    )
    async with running_app(nats_url):
        # Act
        response = await request(nc, event, now_ms=SystemClock().now_ms())

    # Assert
    assert (response["correlation_id"], response["causation_id"]) == (f"corr-{ids.run}", f"unknown-{ids.run}")
    assert response["payload"]["status"] == "error"
    error = {"code": "NOT_FOUND", "message": f"story '{ids.unknown}' not found"}
    assert response["payload"]["error"] == error


async def test_an_undecodable_request_is_answered_with_an_error_on_its_reply_inbox(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    inbox = nc.new_inbox()
    replies = await nc.subscribe(inbox, max_msgs=1)
    async with running_app(nats_url):
        # Act
        await nc.jetstream().publish(
            UPDATE_SUBJECT, b"not json", headers={"Nats-Msg-Id": f"raw-{ids.run}", "Reply-To": inbox}
        )
        reply = await replies.next_msg(timeout=10)

    # Assert
    payload = json.loads(reply.data)["payload"]
    assert (payload["status"], payload["error"]["code"]) == ("error", "INVALID_ARGUMENT")


async def test_an_error_response_is_also_published_on_the_shared_response_subject(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url):
        # Act
        await _unknown_story(nc, ids)
        await eventually(lambda: _responses(nc, 1))

    # Assert
    [response] = payloads_of(await stream_messages(nc, "context.update.response"))
    assert (response["payload"]["story_id"], response["payload"]["status"]) == (ids.unknown, "error")


async def _dead_letters(nc: Client, subject: str, count: int) -> bool:
    return len(await stream_messages(nc, f"context.dlq.{subject}")) == count


async def _responses(nc: Client, count: int) -> bool:
    return len(await stream_messages(nc, "context.update.response")) == count
