"""Write RPCs over real gRPC: CreateStory, CreateTask, AddProjectDecision, TransitionPhase (02 §2.6)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import (
    STORY_ID,
    add_decision,
    change,
    create_story,
    create_task,
    get_context,
    rehydrate,
    subtask_ids,
    update,
    updated_events,
)
from tests.support.harness import Service

DECISION_ID = re.compile(r"^DEC-[A-Z0-9]{1,4}-[0-9A-F]{6}$")


# CreateStory


async def test_create_story_returns_the_context_id_and_the_default_design_phase(service: Service) -> None:
    response = await create_story(service)

    assert response.context_id == f"ctx-{STORY_ID}"
    assert response.story_id == STORY_ID
    assert response.current_phase == "DESIGN"


@pytest.mark.parametrize(
    ("initial_phase", "expected"),
    [("build", "BUILD"), (" Design ", "DESIGN"), ("DOCS", "DOC"), ("documentation", "DOC")],
)
async def test_create_story_honours_the_initial_phase_case_insensitively(
    service: Service, initial_phase: str, expected: str
) -> None:
    response = await create_story(service, initial_phase=initial_phase)

    assert response.current_phase == expected


async def test_created_story_is_served_with_its_phase_in_the_case_block(service: Service) -> None:
    await create_story(service, initial_phase="BUILD")

    response = await get_context(service, "developer", "BUILD")

    assert f"Case: {STORY_ID} — Passwordless login" in response.context
    assert "Phase: BUILD" in response.context
    assert "Description: Let users sign in with a magic link." in response.context


async def test_recreating_a_story_keeps_its_created_at(service: Service) -> None:
    await create_story(service)
    before = (await rehydrate(service, "architect")).packs["architect"].case_header

    await create_story(service, title="Another title", description="Another description")

    after = (await rehydrate(service, "architect")).packs["architect"].case_header
    assert after.created_at == before.created_at
    assert after.title == "Passwordless login"
    assert after.description == "Let users sign in with a magic link."


async def test_recreating_a_story_returns_its_current_phase_after_a_transition(service: Service) -> None:
    await create_story(service)
    await service.stub.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="BUILD"))

    response = await create_story(service, initial_phase="DESIGN")

    assert response.current_phase == "BUILD"
    assert response.context_id == f"ctx-{STORY_ID}"


# CreateTask


async def test_create_task_returns_pending(service: Service) -> None:
    await create_story(service)

    response = await create_task(service, "T-1")

    assert (response.task_id, response.story_id, response.status) == ("T-1", STORY_ID, "PENDING")


async def test_created_task_and_its_dependencies_are_served_by_rehydrate_session(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1", title="Issue magic-link tokens")
    await create_task(service, "T-2", title="Send the email")

    await service.stub.CreateTask(
        pb.CreateTaskRequest(
            story_id=STORY_ID,
            task_id="T-3",
            title="Verify the link",
            description="Check signature and expiry.",
            role="DEV",
            dependencies=["T-2", "T-1"],
            priority=2,
            estimated_hours=5,
        )
    )

    pack = (await rehydrate(service, "developer")).packs["developer"]
    served = next(t for t in pack.subtasks if t.subtask_id == "T-3")
    assert served.title == "Verify the link"
    assert served.description == "Check signature and expiry."
    assert served.role == "developer"
    assert served.status == "PENDING"
    assert served.priority == 2
    assert list(served.dependencies) == ["T-1", "T-2"]


async def test_recreating_a_task_returns_the_same_status_and_leaves_one_task(service: Service) -> None:
    await create_story(service)
    first = await create_task(service, "T-1")

    second = await create_task(service, "T-1", title="A different title")

    assert second.status == first.status == "PENDING"
    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert subtask_ids(pack) == ["T-1"]
    assert pack.subtasks[0].title == "Implement T-1"


async def test_recreating_a_task_returns_its_stored_status(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await update(service, change("UPDATE", "SUBTASK", "T-1", {"status": "IN_PROGRESS"}))

    response = await create_task(service, "T-1")

    assert response.status == "IN_PROGRESS"


async def test_creating_a_task_again_after_it_was_deleted_serves_it_again(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await update(service, change("DELETE", "SUBTASK", "T-1"))

    response = await create_task(service, "T-1")

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert response.status == "PENDING"
    assert [(t.subtask_id, t.status) for t in pack.subtasks] == [("T-1", "PENDING")]


# AddProjectDecision


@pytest.mark.parametrize(
    ("decision_type", "prefix"),
    [("ARCHITECTURE", "DEC-ARCH-"), ("implementation", "DEC-IMPL-"), ("", "DEC-GEN-")],
)
async def test_decision_id_has_the_type_prefix_and_six_hex_digits(
    service: Service, decision_type: str, prefix: str
) -> None:
    await create_story(service)

    decision_id = await add_decision(service, decision_type=decision_type)

    assert DECISION_ID.match(decision_id)
    assert decision_id.startswith(prefix)


@pytest.mark.parametrize(
    ("metadata", "decided_by"),
    [({"role": "architect"}, "architect"), ({"winner": "council"}, "council"), ({}, "UNKNOWN")],
)
async def test_decision_metadata_role_or_winner_gives_decided_by(
    service: Service, metadata: dict[str, str], decided_by: str
) -> None:
    await create_story(service)

    decision_id = await add_decision(service, metadata=metadata)

    decisions = (await rehydrate(service, "architect")).packs["architect"].decisions
    assert [(d.id, d.decided_by) for d in decisions] == [(decision_id, decided_by)]


async def test_decision_is_served_with_its_title_rationale_and_status(service: Service) -> None:
    await create_story(service)

    decision_id = await add_decision(service, title="Use signed links", rationale="Nothing to leak.")

    decision = (await rehydrate(service, "architect")).packs["architect"].decisions[0]
    assert (decision.id, decision.title, decision.rationale) == (
        decision_id,
        "Use signed links",
        "Nothing to leak.",
    )
    assert decision.status == "ACCEPTED"
    assert datetime.fromisoformat(decision.decided_at).utcoffset() == timedelta(0)


async def test_decision_task_ids_link_it_to_the_tasks_it_impacts(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1", title="Issue tokens")
    await create_task(service, "T-2", title="Send the email")
    await create_task(service, "T-3", title="Write the docs")

    decision_id = await add_decision(service, metadata={"task_ids": "T-1, T-2"})

    pack = (await rehydrate(service, "developer")).packs["developer"]
    impacted = [(i.decision_id, i.subtask_id, i.title) for i in pack.impacted]
    assert impacted == [(decision_id, "T-1", "Issue tokens"), (decision_id, "T-2", "Send the email")]


async def test_decision_details_are_served_by_get_context(service: Service) -> None:
    await create_story(service)
    await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id=STORY_ID,
            decision_type="SECURITY",
            title="Links expire after 15 minutes",
            rationale="Limits replay.",
            alternatives_considered="One-hour links",
            metadata={"role": "architect", "source": "threat-model"},
        )
    )

    response = await get_context(service, "architect", "DESIGN")

    assert "Links expire after 15 minutes (SECURITY; decided by architect;" in response.context
    assert "Rationale: Limits replay." in response.context
    assert "Alternatives: One-hour links" in response.context
    assert "Metadata: role=architect; source=threat-model" in response.context


# TransitionPhase


async def test_transition_returns_the_new_phase_and_a_utc_timestamp(service: Service) -> None:
    await create_story(service)

    response = await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="DESIGN", to_phase="build", rationale="ready")
    )

    assert response.story_id == STORY_ID
    assert response.current_phase == "BUILD"
    assert datetime.fromisoformat(response.transitioned_at).utcoffset() == timedelta(0)


async def test_transition_changes_the_phase_served_by_get_context(service: Service) -> None:
    await create_story(service)

    await service.stub.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="TEST"))

    response = await get_context(service, "qa", "TEST")
    assert "Status: ACTIVE · Phase: TEST" in response.context


async def test_transition_accepts_a_from_phase_alias(service: Service) -> None:
    await create_story(service, initial_phase="DOC")

    response = await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="docs", to_phase="DESIGN")
    )

    assert response.current_phase == "DESIGN"


async def test_transition_publishes_a_context_updated_event(service: Service) -> None:
    await create_story(service)

    await service.stub.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="BUILD"))

    events = updated_events(service)
    assert len(events) == 1
    assert events[0].event_type == "context.updated"
    assert events[0].payload["story_id"] == STORY_ID
