"""One canonical log line per consumed message (never its payload) and per-consumer counters."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from nats.aio.client import Client

from context_service.observability.logging import merge_bound_fields
from tests.integration.nats.support import Ids, counter, publish, running_app
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
SUBJECT, DURABLE = "planning.project.created", "context-planning-project-created"
MARK = "Payload-MARK-9f3c"


def project(ids: Ids) -> dict[str, Any]:
    """A project.created payload whose description is a marker that must never be logged."""
    return {
        "project_id": ids.project,
        "name": "Shop",
        "description": MARK,
        "status": "active",
        "owner": "ana",
        "created_at_ms": 1,
    }


async def consume_one(nats_url: str, nc: Client, ids: Ids) -> list[MutableMapping[str, Any]]:
    """Publish one event, wait for it to be applied; the log entries written meanwhile."""
    with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
        async with running_app(nats_url) as app:
            await publish(nc, SUBJECT, project(ids), key=f"k-{ids.run}", correlation_id=f"corr-{ids.run}")
            await eventually(lambda: _applied(app.graph, ids))
    return entries


async def test_a_consumed_message_writes_one_canonical_line(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()

    # Act
    entries = await consume_one(nats_url, nc, ids)

    # Assert (a redelivery after ack_wait under load writes its own line, with its delivery count)
    [line] = [e for e in entries if e["event"] == "nats_message" and e["delivery"] == 1]
    assert {
        k: line[k] for k in ("subject", "consumer", "story_id", "correlation_id", "outcome", "delivery")
    } == {
        "subject": SUBJECT,
        "consumer": DURABLE,
        "story_id": ids.project,
        "correlation_id": f"corr-{ids.run}",
        "outcome": "processed",
        "delivery": 1,
    }
    assert line["duration_ms"] >= 0


async def test_no_log_line_holds_the_message_payload(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()

    # Act
    entries = await consume_one(nats_url, nc, ids)

    # Assert
    assert MARK not in json.dumps(entries, default=str)


async def test_a_processed_message_is_counted_for_its_consumer(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    before = counter("processed", DURABLE)

    # Act
    entries = await consume_one(nats_url, nc, ids)

    # Assert (one count per processed delivery: a redelivery under load is counted too)
    processed = [e for e in entries if e["event"] == "nats_message" and e["outcome"] == "processed"]
    assert len(processed) >= 1
    assert counter("processed", DURABLE) == before + len(processed)


async def _applied(graph: Any, ids: Ids) -> bool:
    return await graph.neighbourhood("Project", ids.project, 1, 10) is not None
