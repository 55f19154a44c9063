"""Snapshots move the golden large story between backends losslessly (memory -> FalkorDB+Valkey -> memory).

The story is built through the public RPCs on the in-memory backend, exported, imported into FalkorDB with
Valkey, exported again, imported into a fresh in-memory service and exported a third time: the three
documents are the same bytes, and the imported story answers the reads exactly as the original does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import grpc
import pytest
from google.protobuf.message import Message

from context_service.bootstrap import memory_adapters
from fleet.context.admin.v1 import admin_pb2 as admin
from fleet.context.v1 import context_pb2 as pb
from tests.contract.fixture_project import LARGE, ROLES, build_fixture_project
from tests.support.backends import falkordb_valkey_adapters
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import Service, running_service

VALKEY_DB = 4  # the golden suite holds databases 1-3
READ_AT_MS = 1_793_600_000_000
TRIES = 3
TRANSIENT = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)


@dataclass
class Trip:
    """The three services of the round trip and the document each exported."""

    source: Service
    falkor: Service
    back: Service
    documents: tuple[str, str, str]
    clocks: tuple[FixedClock, ...]


async def _export(service: Service) -> str:
    return (await service.admin.ExportStory(admin.ExportStoryRequest(story_id=LARGE))).document_json


async def _import(service: Service, document: str) -> admin.ImportStoryResponse:
    return await service.admin.ImportStory(admin.ImportStoryRequest(document_json=document))


@pytest.fixture(scope="module")
async def trip(request: pytest.FixtureRequest) -> AsyncIterator[Trip]:
    """Build, export, import into FalkorDB+Valkey, export, import into memory, export."""
    clocks = tuple(FixedClock(step_ms=1) for _ in range(3))
    async with AsyncExitStack() as stack:
        source = await stack.enter_async_context(
            running_service(adapters=memory_adapters(clock=clocks[0], ids=SequentialIds()))
        )
        await build_fixture_project(source.stub, source.planning_store)
        adapters = await stack.enter_async_context(
            falkordb_valkey_adapters(
                falkordb=request.getfixturevalue("falkordb"),
                valkey=request.getfixturevalue("valkey"),
                valkey_db=VALKEY_DB,
                clock=clocks[1],
                ids=SequentialIds(),
            )
        )
        falkor = await stack.enter_async_context(running_service(adapters=adapters))
        back = await stack.enter_async_context(
            running_service(adapters=memory_adapters(clock=clocks[2], ids=SequentialIds()))
        )
        first = await _export(source)
        await _import(falkor, first)
        second = await _export(falkor)
        await _import(back, second)
        yield Trip(source, falkor, back, (first, second, await _export(back)), clocks)


def _freeze(trip: Trip) -> None:
    """Every service reads the same fixed time, so generated timestamps agree."""
    for clock in trip.clocks:
        clock.current, clock.step_ms = READ_AT_MS, 0


async def test_memory_to_falkordb_export_is_byte_identical(trip: Trip) -> None:
    assert trip.documents[1] == trip.documents[0]


async def test_falkordb_to_memory_export_is_byte_identical(trip: Trip) -> None:
    assert trip.documents[2] == trip.documents[0]


async def test_the_snapshot_carries_the_large_story_whole(trip: Trip) -> None:
    document = json.loads(trip.documents[0])

    assert (len(document["tasks"]), len(document["decisions"])) == (200, 100)
    assert [r["seq"] for r in document["history"]] == list(range(1, len(document["history"]) + 1))
    assert [e["key"].removeprefix(f"swe:case:{LARGE}:") for e in document["read_models"]] == [
        "planning:stream",
        "role:qa:summaries:last",
        "spec",
        "summaries:last",
    ]


async def _answer(call: Callable[[], Awaitable[Message]]) -> bytes | tuple[str, str]:
    """The response's deterministic bytes, or the status the call ended with (a store that was too slow
    on a loaded machine is asked again: the comparison is about answers, not about timing)."""
    for _ in range(TRIES):
        try:
            return (await call()).SerializeToString(deterministic=True)
        except grpc.aio.AioRpcError as exc:
            outcome = (exc.code().name, exc.details() or "")
            if exc.code() not in TRANSIENT:
                return outcome
    return outcome


async def _answers(service: Service) -> list[bytes | tuple[str, str]]:
    """GetContext for every role in three phases, RehydrateSession, GetGraphRelationships of two nodes."""
    stub = service.stub
    calls: list[Callable[[], Awaitable[Message]]] = [
        partial(stub.GetContext, pb.GetContextRequest(story_id=LARGE, role=role, phase=phase))
        for role in ROLES
        for phase in ("DESIGN", "BUILD", "TEST")
    ]
    rehydrate = pb.RehydrateSessionRequest(
        case_id=LARGE, roles=list(ROLES), include_timeline=True, include_summaries=True
    )
    calls.append(partial(stub.RehydrateSession, rehydrate))
    for node_id, node_type, depth in ((LARGE, "Story", 3), ("T-L-001", "Task", 2)):
        request = pb.GetGraphRelationshipsRequest(node_id=node_id, node_type=node_type, depth=depth)
        calls.append(partial(stub.GetGraphRelationships, request))
    return [await _answer(call) for call in calls]


async def test_the_imported_story_serves_byte_identical_reads_on_falkordb(trip: Trip) -> None:
    _freeze(trip)

    expected = await _answers(trip.source)
    observed = await _answers(trip.falkor)

    assert sum(isinstance(a, bytes) for a in expected) >= 12  # mostly served answers, not errors

    assert observed == expected


async def test_the_story_imported_back_into_memory_serves_byte_identical_reads(trip: Trip) -> None:
    _freeze(trip)

    expected = await _answers(trip.source)
    observed = await _answers(trip.back)

    assert observed == expected
