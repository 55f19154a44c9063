"""GetHistory over real gRPC: newest first, one entity's records, page tokens that survive new writes."""

from __future__ import annotations

import grpc
import pytest

from fleet.context.admin.v1 import admin_pb2 as admin
from tests.e2e.builders import STORY_ID, change, create_story, rpc_error, update
from tests.support.harness import Service

MILESTONE = {"event_type": "review", "description": "Design review passed"}


async def history(service: Service, **fields: object) -> admin.GetHistoryResponse:
    """One GetHistory page of the default story."""
    request = admin.GetHistoryRequest(story_id=STORY_ID, **fields)
    return await service.admin.GetHistory(request)


async def milestones(service: Service, *ids: str) -> None:
    """One UpdateContext per milestone id (one record each)."""
    for milestone_id in ids:
        await update(
            service, change("CREATE", "MILESTONE", milestone_id, MILESTONE, reason=f"add {milestone_id}")
        )


async def all_pages(service: Service, page_size: int, **fields: object) -> list[list[int]]:
    """The seqs of every page, following next_page_token to the end."""
    pages, token = [], ""
    while True:
        page = await history(service, page_size=page_size, page_token=token, **fields)
        pages.append([r.seq for r in page.records])
        token = page.next_page_token
        if not token:
            return pages


async def test_records_come_newest_first_with_what_the_writer_gave(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "SUBTASK", "T-1", {"title": "Issue tokens"}, reason="split work"))
    await milestones(service, "M-1")

    page = await history(service)

    assert [(r.seq, r.version, r.operation, r.entity_type, r.entity_id) for r in page.records] == [
        (3, 2, "CREATE", "MILESTONE", "M-1"),
        (2, 1, "CREATE", "SUBTASK", "T-1"),
        (1, 0, "CREATE", "CASE", STORY_ID),
    ]
    assert (page.records[1].role, page.records[1].reason, page.next_page_token) == (
        "developer",
        "split work",
        "",
    )


async def test_entity_id_keeps_only_that_entitys_records(service: Service) -> None:
    await create_story(service)
    await milestones(service, "M-1", "M-2", "M-1")

    page = await history(service, entity_id="M-1")

    assert [(r.seq, r.entity_id) for r in page.records] == [(4, "M-1"), (2, "M-1")]


async def test_pages_follow_the_token_to_the_last_page(service: Service) -> None:
    await create_story(service)
    await milestones(service, *(f"M-{i}" for i in range(7)))

    pages = await all_pages(service, 3)

    assert pages == [[8, 7, 6], [5, 4, 3], [2, 1]]  # 1: the story's creation


async def test_a_token_stays_valid_while_new_records_arrive(service: Service) -> None:
    await create_story(service)
    await milestones(service, *(f"M-{i}" for i in range(5)))
    first = await history(service, page_size=2)

    await milestones(service, "M-new-1", "M-new-2")
    second = await history(service, page_size=2, page_token=first.next_page_token)

    assert [r.seq for r in second.records] == [4, 3]


async def test_zero_page_size_means_fifty(service: Service) -> None:
    await create_story(service)
    await update(service, *(change("CREATE", "MILESTONE", f"M-{i}", MILESTONE) for i in range(60)))

    page = await history(service)

    assert (len(page.records), page.records[0].seq, bool(page.next_page_token)) == (50, 61, True)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"page_size": 501}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "c2VxOi0x"}, "page_token"),
        ({"entity_id": "x" * 300}, "entity_id"),
    ],
)
async def test_a_bad_field_is_invalid_argument_naming_it(
    service: Service, fields: dict[str, object], named: str
) -> None:
    await create_story(service)

    error = await rpc_error(history(service, **fields))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert named in (error.details() or "")


async def test_an_unknown_story_is_not_found(service: Service) -> None:
    error = await rpc_error(service.admin.GetHistory(admin.GetHistoryRequest(story_id="S-404")))

    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_a_new_storys_history_is_its_creation(service: Service) -> None:
    await create_story(service)

    page = await history(service)

    assert [(r.seq, r.operation, r.entity_type, r.source) for r in page.records] == [
        (1, "CREATE", "CASE", "CreateStory")
    ]
    assert page.next_page_token == ""


async def test_a_replayed_update_adds_no_record(service: Service) -> None:
    await create_story(service)
    milestone = change("CREATE", "MILESTONE", "M-1", MILESTONE)
    await update(service, milestone, idempotency_key="k-1")

    await update(service, milestone, idempotency_key="k-1")

    assert [r.seq for r in (await history(service)).records] == [2, 1]
