"""Every RPC write path leaves one history record per changed entity, with digests that chain per entity."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from fleet.context.admin.v1 import admin_pb2 as admin
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import STORY_ID, add_decision, change, create_story, create_task, update
from tests.support.harness import Service

MILESTONE = {"event_type": "review", "description": "Design review passed"}


async def records(service: Service) -> list[admin.HistoryRecord]:
    """The story's whole history, oldest first."""
    page = await service.admin.GetHistory(admin.GetHistoryRequest(story_id=STORY_ID, page_size=500))
    return list(reversed(page.records))


async def every_write(service: Service) -> None:
    """Every write RPC: CreateStory, CreateTask, AddProjectDecision, UpdateContext, TransitionPhase."""
    await create_story(service)
    await create_task(service, "T-1")
    await add_decision(service)
    await update(
        service,
        change("UPDATE", "SUBTASK", "T-1", {"status": "IN_PROGRESS"}, reason="started"),
        change("CREATE", "MILESTONE", "M-1", MILESTONE),
    )
    await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="DESIGN", to_phase="BUILD", rationale="go")
    )
    await update(service, change("DELETE", "SUBTASK", "T-1", reason="dropped"))


async def test_each_rpc_records_its_entities_under_its_name(service: Service) -> None:
    await every_write(service)

    found = [(r.source, r.operation, r.entity_type) for r in await records(service)]

    assert found == [
        ("CreateStory", "CREATE", "CASE"),
        ("CreateTask", "CREATE", "SUBTASK"),
        ("AddProjectDecision", "CREATE", "DECISION"),
        ("UpdateContext", "UPDATE", "SUBTASK"),
        ("UpdateContext", "CREATE", "MILESTONE"),
        ("TransitionPhase", "CREATE", "PHASE_TRANSITION"),
        ("TransitionPhase", "UPDATE", "CASE"),
        ("UpdateContext", "DELETE", "SUBTASK"),
    ]


async def test_seqs_count_up_by_one_and_versions_follow_the_story(service: Service) -> None:
    await every_write(service)

    found = await records(service)

    assert [r.seq for r in found] == list(range(1, len(found) + 1))
    assert [r.version for r in found] == [0, 0, 0, 1, 1, 1, 1, 2]


async def test_a_create_has_no_before_digest_and_a_delete_no_after_digest(service: Service) -> None:
    await every_write(service)

    found = await records(service)

    assert all(r.digest_before == "" and len(r.digest_after) == 64 for r in found if r.operation == "CREATE")
    deleted = [r for r in found if r.operation == "DELETE"]
    assert [(len(r.digest_before), r.digest_after) for r in deleted] == [(64, "")]


async def test_digests_chain_for_every_entity(service: Service) -> None:
    await every_write(service)

    by_entity: dict[str, list[admin.HistoryRecord]] = defaultdict(list)
    for record in await records(service):
        by_entity[record.entity_id].append(record)

    chains = {
        entity: [(a.digest_after, b.digest_before) for a, b in pairwise(found)]
        for entity, found in by_entity.items()
    }
    assert chains["T-1"]
    assert chains[STORY_ID]
    assert all(after == before for links in chains.values() for after, before in links)


async def test_the_writer_and_reason_are_kept(service: Service) -> None:
    await every_write(service)

    started = next(r for r in await records(service) if r.reason == "started")

    assert (started.role, started.entity_id, started.operation) == ("developer", "T-1", "UPDATE")
