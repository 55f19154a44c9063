"""Each inbound subject applies the smallest payload its producers always send, with defaults (04 §4.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from nats.aio.client import Client

from context_service.adapters.nats.client import envelope_event, request
from context_service.adapters.system import SystemClock
from tests.integration.nats.support import App, Ids, publish, running_app, seed_story
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
NOW = "2026-11-21T10:00:00Z"


async def props(app: App, label: str, node_id: str) -> Mapping[str, object] | None:
    """The stored properties of one node, or None."""
    found = await app.graph.neighbourhood(label, node_id, 0, 1)
    return None if found is None else found.node.properties


async def applied(app: App, label: str, node_id: str, **expected: object) -> Mapping[str, object]:
    """Wait until the node exists with the expected properties; its properties."""

    async def holds() -> bool:
        found = await props(app, label, node_id)
        return found is not None and all(found.get(k) == v for k, v in expected.items())

    await eventually(holds)
    found = await props(app, label, node_id)
    assert found is not None
    return found


MINIMAL: dict[str, Callable[[Ids], tuple[str, dict[str, Any]]]] = {
    "project": lambda ids: ("planning.project.created", {"project_id": ids.project, "name": "Shop"}),
    "epic": lambda ids: (
        "planning.epic.created",
        {"epic_id": ids.epic, "project_id": ids.project, "title": "Pay"},
    ),
    "story": lambda ids: (
        "planning.story.created",
        {"story_id": ids.story, "epic_id": ids.epic, "name": "Card"},
    ),
}


async def send(nc: Client, subject: str, payload: dict[str, Any], ids: Ids) -> None:
    await publish(nc, subject, payload, key=f"{subject}-{ids.run}")


async def planned_story(app: App, nc: Client, ids: Ids) -> None:
    """A story with an approved plan, from minimal events."""
    await seed_story(app, ids.story)
    await send(nc, "planning.plan.approved", _approval(ids), ids)
    await applied(app, "PlanVersion", ids.plan)


def _approval(ids: Ids) -> dict[str, Any]:
    return {"plan_id": ids.plan, "story_id": ids.story, "approved_by": "po", "timestamp": NOW}


async def test_a_project_event_with_only_id_and_name_is_applied_with_defaults(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        # Act
        await send(nc, *MINIMAL["project"](ids), ids)

        # Assert
        project = await applied(app, "Project", ids.project, name="Shop")
    assert (project["status"], project["description"], project["owner"]) == ("ACTIVE", "", "")


async def test_an_epic_event_with_only_ids_and_title_is_applied(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await send(nc, *MINIMAL["project"](ids), ids)

        # Act
        await send(nc, *MINIMAL["epic"](ids), ids)

        # Assert
        epic = await applied(app, "Epic", ids.epic, title="Pay")
    assert (epic["status"], epic["description"]) == ("ACTIVE", "")


async def test_a_story_event_with_only_ids_and_name_is_applied(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await send(nc, *MINIMAL["project"](ids), ids)
        await send(nc, *MINIMAL["epic"](ids), ids)

        # Act
        await send(nc, *MINIMAL["story"](ids), ids)

        # Assert
        story = await applied(app, "Story", ids.story, title="Card")
    assert story["description"] == ""


async def test_a_task_event_with_only_ids_and_title_takes_type_and_status_defaults(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await planned_story(app, nc, ids)

        # Act
        await send(
            nc, "planning.task.created", {"task_id": ids.task, "plan_id": ids.plan, "title": "Form"}, ids
        )

        # Assert
        task = await applied(app, "Task", ids.task, title="Form")
    assert (task["type"], task["status"], task["story_id"]) == ("DEVELOPMENT", "TODO", ids.story)


async def test_a_plan_approval_with_its_required_fields_is_applied(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        await send(nc, "planning.plan.approved", _approval(ids), ids)

        # Assert
        plan = await applied(app, "PlanVersion", ids.plan)
    assert plan["status"] == "APPROVED"


async def test_a_transition_with_its_required_fields_is_applied(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    transition = {"story_id": ids.story, "from_phase": "DESIGN", "to_phase": "BUILD", "timestamp": NOW}
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        await send(nc, "planning.story.transitioned", transition, ids)

        # Assert
        await applied(app, "Story", ids.story, current_phase="BUILD")


async def test_a_story_level_deliberation_without_task_or_decision_ids_is_applied(
    nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    deliberation = {"story_id": ids.story, "decisions": [{"rationale": "Fewer moving parts"}]}
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        await send(nc, "orchestration.deliberation.completed", deliberation, ids)

        # Assert
        decision = await applied(app, "Decision", f"DEC-{ids.story}-0")
    assert (decision["decision_type"], decision["rationale"]) == ("TECHNICAL", "Fewer moving parts")


async def test_a_dispatch_with_only_story_and_task_is_applied(nats_url: str, nc: Client) -> None:
    # Arrange
    ids = Ids.new()
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story, ids.task)

        # Act
        await send(nc, "orchestration.task.dispatched", {"story_id": ids.story, "task_id": ids.task}, ids)

        # Assert
        await applied(app, "Task", ids.task, status="IN_PROGRESS")


@pytest.mark.parametrize(
    ("subject", "extra"),
    [
        ("context.update.request", {}),
        # roles has no default (04 §4.4): a rehydration names whom it is for, as the RPC must.
        ("context.rehydrate.request", {"roles": ["developer"]}),
    ],
)
async def test_a_request_with_only_its_required_fields_is_answered(
    nats_url: str, nc: Client, subject: str, extra: dict[str, Any]
) -> None:
    # Arrange
    ids = Ids.new()
    key_field = "case_id" if subject.startswith("context.rehydrate") else "story_id"
    payload = {key_field: ids.story, **extra}
    event = envelope_event(subject, payload, idempotency_key=f"r-{ids.run}", correlation_id="c")
    async with running_app(nats_url) as app:
        await seed_story(app, ids.story)

        # Act
        response = await request(nc, event, now_ms=SystemClock().now_ms())

    # Assert
    assert (response["payload"]["status"], "error" in response["payload"]) == ("success", False)
