"""NATS goes away while the service runs: gRPC keeps serving, the outbox delivers later, health follows."""

from __future__ import annotations

import json

import pytest

from context_service.local_servers import LocalServer
from context_service.ports.errors import PortError
from fleet.context.v1 import context_pb2 as pb
from tests.integration.nats.support import App, Ids, client, publish, running_app, stream_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def milestone_update(ids: Ids) -> pb.UpdateContextRequest:
    """An UpdateContext adding one milestone."""
    payload = json.dumps({"event_type": "progress", "description": "offline work"})
    change = pb.ContextChange(
        operation="CREATE", entity_type="MILESTONE", entity_id=ids.milestone, payload=payload
    )
    return pb.UpdateContextRequest(story_id=ids.story, role="developer", changes=[change])


async def probe_healthy(app: App) -> bool:
    """Whether the NATS health probe answers."""
    try:
        await app.messaging.probe.ping()
    except PortError:
        return False
    return True


async def probe_down(app: App) -> bool:
    """Whether the NATS health probe reports the broker unusable."""
    return not await probe_healthy(app)


async def test_update_context_is_served_and_announced_after_nats_returns(private_nats: LocalServer) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(private_nats.url, grpc_server=True) as app:
        assert app.stub is not None
        await app.stub.CreateStory(pb.CreateStoryRequest(story_id=ids.story, title="Offline"))
        private_nats.stop()
        await eventually(lambda: probe_down(app))

        # Act
        response = await app.stub.UpdateContext(milestone_update(ids))
        pending_while_down = await app.publisher.pending()
        private_nats.start()
        await eventually(lambda: _announced(private_nats, ids))

    # Assert
    assert (response.version, pending_while_down) == (1, 1)
    assert await app.publisher.pending() == 0


async def test_the_health_probe_reports_nats_down_and_up_again(private_nats: LocalServer) -> None:
    # Arrange
    async with running_app(private_nats.url) as app:
        healthy_before = await probe_healthy(app)

        # Act
        private_nats.stop()
        await eventually(lambda: probe_down(app))
        private_nats.start()
        await eventually(lambda: probe_healthy(app))

    # Assert
    assert (app.messaging.probe.name, healthy_before) == ("nats", True)


async def test_consumers_resume_after_the_server_restarts(private_nats: LocalServer) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(private_nats.url) as app:
        private_nats.stop()
        await eventually(lambda: probe_down(app))
        private_nats.start()
        await eventually(lambda: probe_healthy(app))

        # Act
        async with client(private_nats.url) as nc:
            project = {
                "project_id": ids.project,
                "name": "Back",
                "description": "",
                "status": "active",
                "owner": "ana",
                "created_at_ms": 1,
            }
            await publish(nc, "planning.project.created", project, key=f"p-{ids.run}")
            await eventually(lambda: _project_exists(app, ids))


async def _announced(server: LocalServer, ids: Ids) -> bool:
    async with client(server.url) as nc:
        found = [json.loads(m.data) for m in await stream_messages(nc, "context.events.updated")]
    return [(e["payload"]["story_id"], e["payload"]["version"]) for e in found] == [(ids.story, 1)]


async def _project_exists(app: App, ids: Ids) -> bool:
    return await app.graph.neighbourhood("Project", ids.project, 1, 10) is not None
