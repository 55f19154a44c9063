"""`context-service publish`: an enveloped event lands in its stream; a request prints its response."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog
from nats.aio.client import Client

from context_service.adapters.nats.publish_cli import run_publish
from tests.integration.nats.support import (
    Ids,
    running_app,
    seed_story,
    stream_messages,
)

pytestmark = pytest.mark.integration


async def test_publish_wraps_the_payload_in_the_envelope_under_its_idempotency_key(
    nats_url: str, nc: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange
    ids = Ids.new()
    payload = json.dumps({"task_id": ids.task})

    # Act
    with structlog.testing.capture_logs():  # keeps log lines out of the captured stdout
        code = await asyncio.to_thread(
            run_publish,
            "orchestration.task.dispatched",
            payload,
            url=nats_url,
            event_type="task.dispatched",
            idempotency_key=f"k-{ids.run}",
            correlation_id=f"corr-{ids.run}",
        )

    # Assert
    [message] = await stream_messages(nc, "orchestration.task.dispatched", stream="ORCHESTRATOR_EVENTS")
    envelope = json.loads(message.data)
    assert (code, json.loads(capsys.readouterr().out)["stream"]) == (0, "ORCHESTRATOR_EVENTS")
    assert message.headers == {"Nats-Msg-Id": f"k-{ids.run}"}
    assert (envelope["event_type"], envelope["idempotency_key"], envelope["correlation_id"]) == (
        "task.dispatched",
        f"k-{ids.run}",
        f"corr-{ids.run}",
    )
    assert envelope["payload"] == {"task_id": ids.task}


async def test_publishing_a_request_prints_its_response(
    nats_url: str, nc: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange
    ids = Ids.new()
    payload = json.dumps({"case_id": ids.story, "roles": ["qa"]})
    with structlog.testing.capture_logs():  # keeps the service's log lines out of the captured stdout
        async with running_app(nats_url) as app:
            await seed_story(app, ids.story)

            # Act
            code = await asyncio.to_thread(
                run_publish,
                "context.rehydrate.request",
                payload,
                url=nats_url,
                correlation_id=f"corr-{ids.run}",
            )

    # Assert
    response = json.loads(capsys.readouterr().out)
    assert (code, response["correlation_id"], response["payload"]["status"]) == (
        0,
        f"corr-{ids.run}",
        "success",
    )


def test_a_payload_that_is_not_a_json_object_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # Act
    code = run_publish("planning.project.created", "[1, 2]", url="nats://127.0.0.1:1")

    # Assert
    assert (code, capsys.readouterr().err.strip()) == (2, "bad --json: the payload must be a JSON object")
