"""ExportStory and ImportStory over real gRPC: canonical documents, validation before any write, replace."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from fleet.context.admin.v1 import admin_pb2 as admin
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import STORY_ID, add_decision, change, create_story, create_task, rpc_error, update
from tests.support.harness import Service, running_service

Document = dict[str, Any]


async def story_with_everything(service: Service) -> None:
    """Tasks with a dependency, a decision, a milestone, a plan, history, a transition and read-models."""
    await create_story(service)
    await create_task(service, "T-1")
    await create_task(service, "T-2", dependencies=["T-1"])
    await add_decision(service)
    await update(
        service,
        change("CREATE", "MILESTONE", "M-1", {"event_type": "review", "description": "Design review"}),
        change("UPDATE", "SUBTASK", "T-1", {"status": "IN_PROGRESS"}, reason="started"),
    )
    await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="DESIGN", to_phase="BUILD", rationale="go")
    )
    await service.planning_store.put_summary(STORY_ID, "Halfway there.")


async def export(service: Service, story_id: str = STORY_ID) -> admin.ExportStoryResponse:
    """ExportStory."""
    return await service.admin.ExportStory(admin.ExportStoryRequest(story_id=story_id))


async def import_document(
    service: Service, document: str, *, replace: bool = False
) -> admin.ImportStoryResponse:
    """ImportStory."""
    return await service.admin.ImportStory(admin.ImportStoryRequest(document_json=document, replace=replace))


@pytest.fixture
async def document(service: Service) -> Document:
    """The parsed export of the rich story (exported from the `service` fixture)."""
    await story_with_everything(service)
    return dict(json.loads((await export(service)).document_json))


async def test_exporting_twice_gives_the_same_bytes_and_their_sha256(service: Service) -> None:
    await story_with_everything(service)

    first, second = await export(service), await export(service)

    assert first.document_json == second.document_json
    assert first.digest == hashlib.sha256(first.document_json.encode()).hexdigest()


async def test_the_document_is_canonical_json(service: Service) -> None:
    await story_with_everything(service)

    text = (await export(service)).document_json

    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def test_an_import_into_an_empty_service_reports_what_it_wrote(document: Document) -> None:
    async with running_service() as target:
        done = await import_document(target, json.dumps(document))

    assert (done.story_id, done.version) == (STORY_ID, document["story"]["context_version"])
    assert (done.nodes, done.edges, done.history_records) == (
        1 + sum(len(document[s]) for s in ("tasks", "decisions", "milestones", "transitions", "plans")),
        len(document["edges"]),
        len(document["history"]),
    )


async def test_an_import_adds_no_history_record_and_keeps_the_seqs(document: Document) -> None:
    async with running_service() as target:
        await import_document(target, json.dumps(document))
        page = await target.admin.GetHistory(admin.GetHistoryRequest(story_id=STORY_ID))

    assert [r.seq for r in page.records] == [r["seq"] for r in reversed(document["history"])]


async def test_an_existing_story_is_already_exists_without_replace(
    service: Service, document: Document
) -> None:
    before = (await export(service)).document_json
    changed = copy.deepcopy(document)
    changed["story"]["title"] = "Another title"

    error = await rpc_error(import_document(service, json.dumps(changed)))

    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert (await export(service)).document_json == before


async def test_replace_swaps_the_story_for_the_document(service: Service, document: Document) -> None:
    await update(service, change("CREATE", "MILESTONE", "M-9", {"event_type": "x", "description": "later"}))

    await import_document(service, json.dumps(document), replace=True)

    assert json.loads((await export(service)).document_json) == document


def _truncated(d: Document) -> str:
    return json.dumps(d)[:-40]


def _set(path: str, value: Any) -> Callable[[Document], str]:
    def edit(d: Document) -> str:
        target: Any = d
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
        return json.dumps(d)

    return edit


def _dangling_edge(d: Document) -> str:
    d["edges"].append(
        {
            "type": "DEPENDS_ON",
            "from": {"label": "Task", "id": "T-1"},
            "to": {"label": "Task", "id": "T-404"},
            "properties": {},
        }
    )
    return json.dumps(d)


def _oversized(d: Document) -> str:
    d["story"]["description"] = "x" * (7 * 1024 * 1024)
    return json.dumps(d)


MALFORMED: dict[str, tuple[Callable[[Document], str], str]] = {
    "truncated": (_truncated, "not valid JSON"),
    "not an object": (lambda d: "[1, 2]", "not a story snapshot"),
    "another format": (_set("format", "something-else"), "not a story snapshot"),
    "wrong version": (_set("format_version", 99), "format_version 99 is not supported"),
    "version as text": (_set("format_version", "1"), "format_version '1' is not supported"),
    "missing section": (
        lambda d: json.dumps({k: v for k, v in d.items() if k != "tasks"}),
        "'tasks' is a required property",
    ),
    "null property": (_set("tasks.0.title", None), "$.tasks[0].title"),
    "bookkeeping property": (_set("story._rev", 5), "$.story"),
    "unknown edge type": (_set("edges.0.type", "OWNS"), "$.edges[0].type"),
    "dangling edge": (_dangling_edge, "Task 'T-404', which the document does not contain"),
    "foreign id": (_set("tasks.0.story_id", "S-OTHER"), "foreign to story"),
    "story ids differ": (_set("story_id", "S-OTHER"), "story_id differs from story.id"),
    "duplicate id": (
        lambda d: (d["tasks"].append(copy.deepcopy(d["tasks"][0])), json.dumps(d))[1],
        "repeats id 'T-1'",
    ),
    "foreign read-model key": (_set("read_models.0.key", "swe:case:S-OTHER:spec"), "is not under"),
    "seqs out of order": (_set("history.0.seq", 99), "seqs increase strictly"),
    "oversized": (_oversized, "over the limit"),
    "NUL in a property": (
        _set("tasks.0.title", "a\u0000b"),
        "document_json.tasks[0].title contains a character",
    ),
    "control in an id": (_set("milestones.0.id", "M\u0007"), "milestones[0].id contains a character"),
    "NaN value": (_set("tasks.0.estimate", float("nan")), "$.tasks[0].estimate"),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_document_is_invalid_argument_and_writes_nothing(
    document: Document, case: str
) -> None:
    make, expected = MALFORMED[case]
    async with running_service() as target:
        error = await rpc_error(import_document(target, make(copy.deepcopy(document))))
        missing = await rpc_error(export(target))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "document_json" in (error.details() or "")
    assert expected in (error.details() or "")
    assert missing.code() is grpc.StatusCode.NOT_FOUND


async def test_exporting_an_unknown_story_is_not_found(service: Service) -> None:
    error = await rpc_error(export(service, "S-404"))

    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_exporting_without_a_story_id_is_invalid_argument_naming_it(service: Service) -> None:
    error = await rpc_error(export(service, " "))

    assert (error.code(), "story_id" in (error.details() or "")) == (grpc.StatusCode.INVALID_ARGUMENT, True)
