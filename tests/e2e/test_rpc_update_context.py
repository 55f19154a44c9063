"""UpdateContext over real gRPC: versions, warnings, soft deletes, history, idempotency, events (02 §2.6)."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import pytest

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import (
    STORY_ID,
    change,
    create_story,
    create_task,
    get_context,
    rehydrate,
    rpc_error,
    subtask_ids,
    update,
    update_request,
    updated_events,
)
from tests.support.harness import Service

MILESTONE = {"event_type": "review", "description": "Design review passed"}


def expected_hash(version: int, story_id: str = STORY_ID) -> str:
    """First 16 hex characters of sha256("{story_id}:{version}")."""
    return hashlib.sha256(f"{story_id}:{version}".encode()).hexdigest()[:16]


# Versions and hashes


async def test_each_call_with_an_applied_change_bumps_the_version_by_one(service: Service) -> None:
    await create_story(service)

    versions = [
        (await update(service, change("CREATE", "MILESTONE", f"M-{n}", MILESTONE))).version for n in range(3)
    ]

    assert versions == [1, 2, 3]


async def test_a_call_with_many_applied_changes_bumps_the_version_once(service: Service) -> None:
    await create_story(service)

    response = await update(
        service,
        change("CREATE", "SUBTASK", "T-1", {"title": "Issue tokens", "role": "developer"}),
        change("CREATE", "SUBTASK", "T-2", {"title": "Send mail", "role": "developer"}),
        change("CREATE", "MILESTONE", "M-1", MILESTONE),
    )

    assert response.version == 1
    assert list(response.warnings) == []


async def test_update_with_only_invalid_changes_keeps_the_version(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE))

    response = await update(
        service, change("MERGE", "MILESTONE", "M-2", MILESTONE), change("UPDATE", "SUBTASK", "T-404", {})
    )

    assert response.version == 1
    assert response.hash == expected_hash(1)
    assert len(response.warnings) == 2


async def test_hash_is_derived_from_the_story_id_and_version(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE))

    response = await update(service, change("CREATE", "MILESTONE", "M-2", MILESTONE))

    assert response.hash == expected_hash(2)


# Invalid changes become warnings


@pytest.mark.parametrize(
    ("bad", "warning_prefix"),
    [
        (change("MERGE", "SUBTASK", "T-9", {"title": "x"}), "Failed to process T-9: "),
        (change("CREATE", "WIDGET", "W-1", {"title": "x"}), "Failed to process W-1: "),
        (change("CREATE", "SUBTASK", "   ", {"title": "x"}), "Failed to process "),
        (change("CREATE", "SUBTASK", "T-9", "{not json"), "Failed to process T-9: "),
        (change("CREATE", "SUBTASK", "T-9", '["title", "x"]'), "Failed to process T-9: "),
        (change("UPDATE", "SUBTASK", "T-404", {"status": "DONE"}), "Failed to process T-404: "),
    ],
    ids=[
        "unknown-operation",
        "unknown-entity-type",
        "blank-entity-id",
        "payload-not-json",
        "payload-array",
        "update-of-missing-entity",
    ],
)
async def test_an_invalid_change_becomes_a_warning_and_the_valid_ones_commit(
    service: Service, bad: pb.ContextChange, warning_prefix: str
) -> None:
    await create_story(service)

    response = await update(
        service,
        change("CREATE", "SUBTASK", "T-1", {"title": "Issue tokens", "role": "developer"}),
        bad,
        change("CREATE", "SUBTASK", "T-2", {"title": "Send mail", "role": "developer"}),
    )

    assert response.version == 1
    assert len(response.warnings) == 1
    assert response.warnings[0].startswith(warning_prefix)
    assert len(response.warnings[0]) > len(warning_prefix)
    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert subtask_ids(pack) == ["T-1", "T-2"]


async def test_an_invalid_change_leaves_no_trace_in_history(service: Service) -> None:
    await create_story(service)

    await update(
        service,
        change("CREATE", "MILESTONE", "M-1", MILESTONE),
        change("CREATE", "WIDGET", "W-1", {"title": "x"}),
    )

    history = await service.graph.history(STORY_ID)
    assert [(r.entity_type, r.entity_id) for r in history if r.version] == [("MILESTONE", "M-1")]


# Soft delete, aliases, case-insensitive operations


async def test_deleted_task_is_no_longer_served(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1", title="Issue tokens")
    await create_task(service, "T-2", title="Send mail")

    await update(service, change("DELETE", "SUBTASK", "T-1", reason="out of scope"))

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert subtask_ids(pack) == ["T-2"]
    assert pack.plan_header.total_subtasks == 1
    context = (await get_context(service, "qa", "DESIGN")).context
    assert "Issue tokens" not in context
    assert "Send mail" in context


async def test_deleted_decision_is_no_longer_served(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "DECISION", "DEC-1", {"title": "Use JWT sessions"}))

    await update(service, change("DELETE", "DECISION", "DEC-1"))

    response = await rehydrate(service, "architect")
    assert list(response.packs["architect"].decisions) == []
    assert response.stats.decisions == 0
    assert "Use JWT sessions" not in (await get_context(service, "architect", "DESIGN")).context


async def test_creating_a_deleted_task_again_serves_it_again(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "SUBTASK", "T-1", {"title": "Issue tokens", "role": "developer"}))
    await update(service, change("DELETE", "SUBTASK", "T-1"))

    response = await update(
        service, change("CREATE", "SUBTASK", "T-1", {"title": "Issue tokens again", "role": "developer"})
    )

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert (response.version, list(response.warnings)) == (3, [])
    assert [(t.subtask_id, t.title, t.status) for t in pack.subtasks] == [
        ("T-1", "Issue tokens again", "PENDING")
    ]


async def test_creating_a_deleted_decision_again_serves_it_again(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "DECISION", "DEC-1", {"title": "Use JWT sessions"}))
    await update(service, change("DELETE", "DECISION", "DEC-1"))

    await update(service, change("CREATE", "DECISION", "DEC-1", {"title": "Use signed cookies"}))

    decisions = (await rehydrate(service, "architect")).packs["architect"].decisions
    assert [(d.id, d.title) for d in decisions] == [("DEC-1", "Use signed cookies")]


async def test_a_change_to_another_storys_entity_becomes_a_warning(service: Service) -> None:
    await create_story(service)
    await create_story(service, "STORY-SIGNUP-7", title="Signup")
    await create_task(service, "T-1")

    response = await update(
        service, change("UPDATE", "SUBTASK", "T-1", {"status": "DONE"}), story_id="STORY-SIGNUP-7"
    )

    assert (response.version, len(response.warnings)) == (0, 1)
    assert response.warnings[0].startswith("Failed to process T-1: ")
    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert [(t.subtask_id, t.status) for t in pack.subtasks] == [("T-1", "PENDING")]


async def test_task_alias_creates_a_subtask(service: Service) -> None:
    await create_story(service)

    response = await update(
        service, change("CREATE", "task", "T-1", {"title": "Issue tokens", "role": "DEV", "priority": 1})
    )

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert list(response.warnings) == []
    assert [(t.subtask_id, t.title, t.priority) for t in pack.subtasks] == [("T-1", "Issue tokens", 1)]


async def test_story_alias_updates_the_case(service: Service) -> None:
    await create_story(service)

    await update(service, change("UPDATE", "STORY", STORY_ID, {"title": "Magic-link login"}))

    context = (await get_context(service, "developer", "DESIGN")).context
    assert f"Case: {STORY_ID} — Magic-link login" in context


async def test_operations_are_case_insensitive(service: Service) -> None:
    await create_story(service)

    response = await update(
        service,
        change("create", "SUBTASK", "T-1", {"title": "Issue tokens", "role": "developer"}),
        change(" Update ", "subtask", "T-1", {"status": "DONE"}),
    )

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert list(response.warnings) == []
    assert [(t.subtask_id, t.status) for t in pack.subtasks] == [("T-1", "DONE")]


# History


async def test_each_applied_change_is_recorded_in_history_with_its_version(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")

    await service.stub.UpdateContext(
        pb.UpdateContextRequest(
            story_id=STORY_ID,
            task_id="T-1",
            role="developer",
            changes=[
                change("UPDATE", "SUBTASK", "T-1", {"status": "IN_PROGRESS"}, reason="started"),
                change("CREATE", "MILESTONE", "M-1", MILESTONE, reason="review done"),
            ],
        )
    )
    await update(service, change("DELETE", "MILESTONE", "M-1", reason="duplicate"), role="qa")

    history = await service.graph.history(STORY_ID)
    assert history[0].version == 2
    recorded = sorted(
        (r.version, r.role, r.operation, r.entity_type, r.entity_id, r.reason) for r in history if r.version
    )
    assert recorded == [
        (1, "developer", "CREATE", "MILESTONE", "M-1", "review done"),
        (1, "developer", "UPDATE", "SUBTASK", "T-1", "started"),
        (2, "qa", "DELETE", "MILESTONE", "M-1", "duplicate"),
    ]
    assert {r.task_id for r in history if r.version == 1} == {"T-1"}


# Idempotency


async def test_retry_with_the_same_idempotency_key_returns_the_stored_response(service: Service) -> None:
    await create_story(service)
    body = (change("CREATE", "MILESTONE", "M-1", MILESTONE), change("MERGE", "MILESTONE", "M-2", MILESTONE))
    first = await update(service, *body, idempotency_key="k1")

    retry = await update(service, *body, idempotency_key="k1")

    assert retry == first
    assert (retry.version, len(retry.warnings)) == (1, 1)


async def test_retry_with_the_same_idempotency_key_changes_nothing(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE), idempotency_key="k1")

    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE), idempotency_key="k1")

    assert len([r for r in await service.graph.history(STORY_ID) if r.version]) == 1
    assert len(updated_events(service)) == 1
    after = await update(service, change("CREATE", "MILESTONE", "M-2", MILESTONE))
    assert after.version == 2


async def test_reusing_an_idempotency_key_with_different_content_is_aborted(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE), idempotency_key="k1")

    error = await rpc_error(
        update(service, change("CREATE", "MILESTONE", "M-2", MILESTONE), idempotency_key="k1")
    )

    assert error.code() is grpc.StatusCode.ABORTED
    assert len([r for r in await service.graph.history(STORY_ID) if r.version]) == 1


async def test_concurrent_retries_with_the_same_idempotency_key_commit_once(service: Service) -> None:
    await create_story(service)
    request = update_request(change("CREATE", "MILESTONE", "M-1", MILESTONE))
    metadata = (("idempotency-key", "k1"),)

    responses = await asyncio.gather(
        *(service.stub.UpdateContext(request, metadata=metadata) for _ in range(5))
    )

    assert {(r.version, r.hash) for r in responses} == {(1, expected_hash(1))}
    assert len([r for r in await service.graph.history(STORY_ID) if r.version]) == 1
    assert len(updated_events(service)) == 1


# Concurrency


async def test_concurrent_updates_get_distinct_consecutive_versions(service: Service) -> None:
    await create_story(service)
    requests = [update_request(change("CREATE", "MILESTONE", f"M-{n}", MILESTONE)) for n in range(50)]

    responses = await asyncio.gather(*(service.stub.UpdateContext(r) for r in requests))

    assert sorted(r.version for r in responses) == list(range(1, 51))
    history = [r for r in await service.graph.history(STORY_ID, limit=1000) if r.version]
    assert len(history) == 50
    assert sorted(r.version for r in history) == list(range(1, 51))
    final = await update(service, change("CREATE", "MILESTONE", "M-last", MILESTONE))
    assert final.version == 51


# Events


async def test_each_committed_call_publishes_one_context_updated_event(service: Service) -> None:
    await create_story(service)

    await update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE))
    await update(service, change("MERGE", "MILESTONE", "M-2", MILESTONE))
    await update(service, change("CREATE", "MILESTONE", "M-3", MILESTONE))

    events = updated_events(service)
    payloads = [(e.payload["story_id"], e.payload["version"], e.payload["hash"]) for e in events]
    assert payloads == [(STORY_ID, 1, expected_hash(1)), (STORY_ID, 2, expected_hash(2))]
    assert len({e.idempotency_key for e in events}) == 2
    assert all(e.event_type == "context.updated" for e in events)
