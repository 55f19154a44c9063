"""Fleet events over real JetStream leave history records under their subject; a redelivery adds none."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from context_service.domain.model import ChangeRecord
from tests.integration.nats.support import (
    App,
    Ids,
    consumer_state,
    publish,
    running_app,
    seed_story,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
UPDATE_SUBJECT, UPDATE_DURABLE = "context.update.request", "context-update-request"


async def history_of(app: App, story_id: str) -> list[ChangeRecord]:
    """The story's records, oldest first."""
    return list(reversed(await app.graph.history(story_id, limit=1000)))


async def settled(app: App, story_id: str, count: int) -> list[ChangeRecord]:
    """The records once there are `count` of them."""

    async def arrived() -> bool:
        return len(await app.graph.history(story_id, limit=1000)) >= count

    await eventually(arrived)
    return await history_of(app, story_id)


def update_payload(ids: Ids) -> dict[str, object]:
    """An UpdateContext request adding one milestone."""
    change = {
        "operation": "CREATE",
        "entity_type": "MILESTONE",
        "entity_id": ids.milestone,
        "payload": {"event_type": "progress", "description": "half way"},
        "reason": "progress",
    }
    return {"story_id": ids.story, "role": "developer", "changes": [change]}


async def test_an_update_over_nats_is_recorded_under_its_subject(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        await publish(nc, UPDATE_SUBJECT, update_payload(ids), key=f"update-{ids.run}")
        found = await settled(app, ids.story, 2)

    # Assert
    assert [(r.source, r.operation, r.entity_type, r.entity_id) for r in found[1:]] == [
        (UPDATE_SUBJECT, "CREATE", "MILESTONE", ids.milestone)
    ]


async def test_a_republished_event_with_the_same_key_adds_no_record(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)
        await publish(nc, UPDATE_SUBJECT, update_payload(ids), key=f"update-{ids.run}")
        await settled(app, ids.story, 2)

        # Act: the same event again under another message id, so only the idempotency key can stop it
        await publish(
            nc, UPDATE_SUBJECT, update_payload(ids), key=f"update-{ids.run}", msg_id=f"again-{ids.run}"
        )

        async def consumed() -> bool:
            return await consumer_state(nc, "CONTEXT", UPDATE_DURABLE) == (0, 0)

        await eventually(consumed)
        found = await history_of(app, ids.story)

    # Assert
    assert [r.seq for r in found] == [1, 2]


async def test_a_deliberation_records_its_decision_under_its_subject(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)
        decision = {"id": ids.decision, "type": "architecture", "title": "Use a queue", "rationale": "load"}
        payload = {
            "story_id": ids.story,
            "task_id": ids.task,
            "decisions": [{**decision, "affected_subtask": ids.task}],
        }

        # Act
        await publish(nc, "orchestration.deliberation.completed", payload, key=f"deliberation-{ids.run}")
        found = await settled(app, ids.story, 3)

    # Assert
    assert ("orchestration.deliberation.completed", "DECISION", ids.decision) in [
        (r.source, r.entity_type, r.entity_id) for r in found
    ]
