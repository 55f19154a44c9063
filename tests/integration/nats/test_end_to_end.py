"""Fleet events over real JetStream build the graph that GetContext and GetGraphRelationships then serve."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from fleet.context.v1 import context_pb2 as pb
from tests.integration.nats.support import (
    App,
    Ids,
    payloads_of,
    publish,
    running_app,
    stream_messages,
    version_of,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def publish_planning_and_deliberation(nc: Client, ids: Ids) -> None:
    """The fleet's events for one story, published back to back (consumers may see them in any order)."""
    project = {
        "project_id": ids.project,
        "name": "Web shop",
        "description": "Sell things",
        "status": "active",
        "owner": "ana",
        "created_at_ms": 1,
    }
    await publish(nc, "planning.project.created", project, key=f"project-{ids.run}")
    epic = {"epic_id": ids.epic, "project_id": ids.project, "title": "Checkout"}
    await publish(nc, "planning.epic.created", epic, key=f"epic-{ids.run}")
    story = {"story_id": ids.story, "epic_id": ids.epic, "name": "Pay by card"}
    await publish(nc, "planning.story.created", story, key=f"story-{ids.run}")
    task = {
        "task_id": ids.task,
        "plan_id": ids.plan,
        "story_id": ids.story,
        "title": "Card form",
        "type": "Feature",
        "status": "todo",
        "role": "developer",
    }
    await publish(nc, "planning.task.created", task, key=f"task-{ids.run}")
    decision = {
        "id": ids.decision,
        "type": "architecture",
        "title": "Use Stripe Elements",
        "rationale": "Keeps card data out of our servers",
        "affected_subtask": ids.task,
    }
    deliberation = {"story_id": ids.story, "task_id": ids.task, "decisions": [decision]}
    await publish(
        nc,
        "orchestration.deliberation.completed",
        deliberation,
        key=f"deliberation-{ids.run}",
        correlation_id=f"corr-{ids.run}",
    )


async def built(app: App, ids: Ids) -> None:
    """Wait until the deliberation's version bump is visible."""

    async def bumped() -> bool:
        return await version_of(app.graph, ids.story) == 1

    await eventually(bumped)


async def test_fleet_events_build_the_context_getcontext_serves(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url, grpc_server=True) as app:
        assert app.stub is not None

        # Act
        await publish_planning_and_deliberation(nc, ids)
        await built(app, ids)
        response = await app.stub.GetContext(
            pb.GetContextRequest(story_id=ids.story, role="developer", phase="BUILD")
        )

    # Assert
    assert "Pay by card" in response.context
    assert "Card form" in response.context
    assert "Use Stripe Elements" in response.context


async def test_fleet_events_build_the_relationships_getgraphrelationships_serves(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url, grpc_server=True) as app:
        assert app.stub is not None

        # Act
        await publish_planning_and_deliberation(nc, ids)
        await built(app, ids)
        response = await app.stub.GetGraphRelationships(
            pb.GetGraphRelationshipsRequest(node_id=ids.epic, node_type="Epic", depth=3)
        )

    # Assert
    relationships = {(r.from_node_id, r.type, r.to_node_id) for r in response.relationships}
    assert {
        (ids.project, "HAS_EPIC", ids.epic),
        (ids.epic, "CONTAINS_STORY", ids.story),
        (ids.story, "HAS_TASK", ids.task),
        (ids.task, "INFLUENCED_BY", ids.decision),
    } <= relationships


async def test_a_deliberation_is_announced_on_context_events_updated(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()

    async def announced() -> bool:
        return len(await stream_messages(nc, "context.events.updated")) == 1

    async with running_app(nats_url) as app:
        # Act
        await publish_planning_and_deliberation(nc, ids)
        await built(app, ids)
        await eventually(announced)

    # Assert
    [event] = payloads_of(await stream_messages(nc, "context.events.updated"))
    assert (event["event_type"], event["correlation_id"], event["causation_id"], event["producer"]) == (
        "context.updated",
        f"corr-{ids.run}",
        f"deliberation-{ids.run}",
        "context-service",
    )
    assert (event["payload"]["story_id"], event["payload"]["version"]) == (ids.story, 1)


async def test_consumers_started_after_the_grpc_server_apply_what_was_published_meanwhile(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url, grpc_server=True, start_consumers=False) as app:
        await publish_planning_and_deliberation(nc, ids)

        # Act
        async with app.messaging.consumer_group():
            await built(app, ids)

    # Assert
    assert await version_of(app.graph, ids.story) == 1
