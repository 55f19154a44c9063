"""fleet.context.session.v1 over real gRPC: every RPC, its status codes, reflection and health."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from context_service.adapters.memory.session import InMemorySessionStore
from context_service.bootstrap import memory_adapters
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc
from tests.e2e.session.support import PROGRESS, new_id, status_of, take, valkey_service
from tests.support.harness import Service, running_service

SERVICE = "fleet.context.session.v1.SessionContextService"
Call = Callable[[pb_grpc.SessionContextServiceStub, str], Awaitable[object]]


@pytest.fixture
async def svc() -> AsyncIterator[Service]:
    """The service on the in-memory backend with a short PROGRESS interval."""
    async with running_service(sessions=PROGRESS) as service:
        yield service


async def test_reflection_lists_the_session_service_beside_v1(svc: Service) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(svc.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {SERVICE, "fleet.context.v1.ContextService"} <= names


async def test_health_reports_the_session_service_serving(svc: Service) -> None:
    health = health_pb2_grpc.HealthStub(svc.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_put_get_has_delete_round_trip(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    put = await s.Put(
        pb.PutRequest(session_id=sid, key="analysis:mind:tim", value_json='{"a":1}', source="mind:tim")
    )
    got = await s.Get(pb.GetRequest(session_id=sid, key="analysis:mind:tim"))
    assert (got.found, got.entry) == (True, put.entry)
    assert (got.entry.version, got.entry.revision, got.entry.source) == (1, 1, "mind:tim")
    assert (await s.Has(pb.HasRequest(session_id=sid, key="analysis:mind:tim"))).found
    deleted = await s.Delete(pb.DeleteRequest(session_id=sid, key="analysis:mind:tim"))
    assert (deleted.deleted, deleted.revision) == (True, 2)
    assert not (await s.Get(pb.GetRequest(session_id=sid, key="analysis:mind:tim"))).found
    assert not (await s.Has(pb.HasRequest(session_id=sid, key="analysis:mind:tim"))).found


async def test_batch_put_then_batch_get_and_find(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    items = [
        pb.PutItem(key=f"k{i}", value_json=str(i), tags=["even"] if i % 2 == 0 else []) for i in range(5)
    ]
    written = await s.BatchPut(pb.BatchPutRequest(session_id=sid, items=items))
    assert written.revision == 1
    assert [e.revision for e in written.entries] == [1] * 5
    got = await s.BatchGet(pb.BatchGetRequest(session_id=sid, keys=["k4", "zz", "k0"]))
    assert [e.key for e in got.entries] == ["k4", "k0"]
    found = await s.Find(pb.FindRequest(session_id=sid, pattern="k*", tag="even", page_size=2))
    rest = await s.Find(
        pb.FindRequest(
            session_id=sid, pattern="k*", tag="even", page_size=2, page_token=found.next_page_token
        )
    )
    assert [e.key for e in found.entries] + [e.key for e in rest.entries] == ["k0", "k2", "k4"]
    assert rest.next_page_token == ""


async def test_sessions_are_created_listed_described_and_dropped(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    options = pb.SessionOptions(default_ttl_ms=0, max_entries=5, strict=True, notifications=False)
    created = await s.CreateSession(pb.CreateSessionRequest(session_id=sid, options=options))
    assert created.created
    assert created.session.options == options.__class__(
        default_ttl_ms=0, max_entries=5, max_entry_bytes=102_400, strict=True, notifications=False
    )
    await s.Put(pb.PutRequest(session_id=sid, key="a", value_json="1"))
    got = (await s.GetSession(pb.GetSessionRequest(session_id=sid))).session
    assert (got.revision, got.entry_count) == (1, 1)
    listed = await s.ListSessions(pb.ListSessionsRequest(prefix=sid))
    assert [x.session_id for x in listed.sessions] == [sid]
    dropped = await s.DropSession(pb.DropSessionRequest(session_id=sid))
    assert (dropped.dropped, dropped.entries_removed) == (True, 1)
    code, _ = await status_of(s.GetSession(pb.GetSessionRequest(session_id=sid)))
    assert code is grpc.StatusCode.NOT_FOUND


async def test_a_lost_compare_and_set_is_aborted_with_the_current_version(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    await s.Put(pb.PutRequest(session_id=sid, key="a", value_json="1"))
    code, details = await status_of(
        s.Put(pb.PutRequest(session_id=sid, key="a", value_json="2", expected_version=0))
    )
    assert code is grpc.StatusCode.ABORTED
    assert "version 1" in details
    code, details = await status_of(s.Delete(pb.DeleteRequest(session_id=sid, key="a", expected_version=3)))
    assert (code, "version 1" in details) == (grpc.StatusCode.ABORTED, True)


async def test_a_strict_full_session_is_resource_exhausted(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    options = pb.SessionOptions(max_entries=1, strict=True)
    await s.CreateSession(pb.CreateSessionRequest(session_id=sid, options=options))
    await s.Put(pb.PutRequest(session_id=sid, key="a", value_json="1"))
    code, _ = await status_of(s.Put(pb.PutRequest(session_id=sid, key="b", value_json="1")))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_non_strict_full_session_reports_the_evicted_keys(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    await s.CreateSession(pb.CreateSessionRequest(session_id=sid, options=pb.SessionOptions(max_entries=1)))
    await s.Put(pb.PutRequest(session_id=sid, key="a", value_json="1"))
    put = await s.Put(pb.PutRequest(session_id=sid, key="b", value_json="1"))
    assert list(put.evicted_keys) == ["a"]


async def test_watch_streams_snapshot_progress_changes_and_the_drop(svc: Service) -> None:
    sid, s = new_id(), svc.sessions
    await s.Put(pb.PutRequest(session_id=sid, key="analysis:mind:a", value_json="1"))
    call = s.Watch(pb.WatchRequest(session_id=sid, pattern="analysis:*", include_initial=True))
    head = await take(call, 2, skip_progress=False)
    assert [(r.type, r.key, r.initial) for r in head] == [
        (pb.EVENT_TYPE_SET, "analysis:mind:a", True),
        (pb.EVENT_TYPE_PROGRESS, "", False),
    ]
    await s.Put(pb.PutRequest(session_id=sid, key="analysis:mind:b", value_json="2"))
    [live] = await take(call, 1)
    assert (live.type, live.key, live.revision, live.entry.value_json) == (
        pb.EVENT_TYPE_SET,
        "analysis:mind:b",
        2,
        "2",
    )
    [idle] = await take(call, 1, skip_progress=False)
    assert (idle.type, idle.revision) == (pb.EVENT_TYPE_PROGRESS, 2)
    await s.DropSession(pb.DropSessionRequest(session_id=sid))
    [dropped] = await take(call, 1)
    assert dropped.type == pb.EVENT_TYPE_SESSION_DROPPED
    assert await call.read() is grpc.aio.EOF
    assert await call.code() is grpc.StatusCode.OK


@pytest.mark.parametrize("backend", ["memory", "valkey"])
async def test_watch_from_a_trimmed_revision_ends_out_of_range(
    request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "memory":
        adapters = dataclasses.replace(memory_adapters(), sessions=InMemorySessionStore(retention=3))
        opened = running_service(adapters=adapters, sessions=PROGRESS)
    else:
        opened = valkey_service(request.getfixturevalue("valkey"), retention=3)
    async with opened as service:
        sid, s = new_id(), service.sessions
        for i in range(6):
            await s.Put(pb.PutRequest(session_id=sid, key=f"k{i}", value_json="1"))
        code, details = await status_of(s.Watch(pb.WatchRequest(session_id=sid, after_revision=1)).read())
        assert code is grpc.StatusCode.OUT_OF_RANGE
        assert "oldest retained revision 4" in details
        [first] = await take(s.Watch(pb.WatchRequest(session_id=sid, after_revision=3)), 1)
        assert first.revision == 4


@pytest.mark.parametrize("backend", ["memory", "valkey"])
async def test_a_write_retried_under_its_idempotency_key_changes_nothing_twice(
    request: pytest.FixtureRequest, backend: str
) -> None:
    opened = (
        running_service(sessions=PROGRESS)
        if backend == "memory"
        else valkey_service(request.getfixturevalue("valkey"))
    )
    async with opened as service:
        sid, s = new_id(), service.sessions
        keyed = (("idempotency-key", "put-1"),)
        put = pb.PutRequest(session_id=sid, key="k", value_json="1")
        first = await s.Put(put, metadata=keyed)
        again = await s.Put(put, metadata=keyed)
        assert again.entry == first.entry
        assert (again.entry.revision, again.entry.version) == (1, 1)
        other = pb.PutRequest(session_id=sid, key="k", value_json="2")
        code, details = await status_of(s.Put(other, metadata=keyed))
        assert code is grpc.StatusCode.ABORTED
        assert "idempotency-key" in details
        deleted = pb.DeleteRequest(session_id=sid, key="k")
        assert (await s.Delete(deleted, metadata=(("idempotency-key", "del-1"),))).revision == 2
        assert (await s.Delete(deleted, metadata=(("idempotency-key", "del-1"),))).deleted
        assert (await s.GetSession(pb.GetSessionRequest(session_id=sid))).session.revision == 2
