"""Concurrent clients on Valkey over real gRPC: compare-and-set loses no update; batches are atomic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest

from context_service.local_servers import LocalServer
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc
from tests.e2e.session.support import new_id, valkey_service
from tests.support.harness import Service

CLIENTS = 50
ROUNDS = 20
BATCH_KEYS = 10


@pytest.fixture
async def svc(valkey: LocalServer) -> AsyncIterator[Service]:
    """The service with its sessions on the shared Valkey server."""
    async with valkey_service(valkey) as service:
        yield service


async def increment(stub: pb_grpc.SessionContextServiceStub, sid: str) -> int:
    """Read, add one, write at the version read; retry on ABORTED. The number of attempts."""
    attempts = 0
    while True:
        attempts += 1
        got = await stub.Get(pb.GetRequest(session_id=sid, key="counter"))
        value = json.loads(got.entry.value_json) if got.found else 0
        put = pb.PutRequest(
            session_id=sid,
            key="counter",
            value_json=json.dumps(value + 1),
            expected_version=got.entry.version,
        )
        try:
            await stub.Put(put)
            return attempts
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.ABORTED:
                raise


async def test_fifty_clients_incrementing_with_compare_and_set_end_at_exactly_fifty(svc: Service) -> None:
    sid = new_id()
    channels = [grpc.aio.insecure_channel(svc.server_address) for _ in range(CLIENTS)]
    try:
        stubs = [pb_grpc.SessionContextServiceStub(c) for c in channels]
        attempts = await asyncio.gather(*(increment(stub, sid) for stub in stubs))
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    got = await svc.sessions.Get(pb.GetRequest(session_id=sid, key="counter"))
    assert (json.loads(got.entry.value_json), got.entry.version) == (CLIENTS, CLIENTS)
    print(f"\n{CLIENTS} CAS increments took {sum(attempts)} attempts")
    assert sum(attempts) > CLIENTS  # the clients did race


async def race(stub: pb_grpc.SessionContextServiceStub, sid: str) -> tuple[bool, bool]:
    """A create-only BatchPut of ten keys against a create-only Put of one of them: who won."""
    items = [pb.PutItem(key=f"k{i}", value_json='"batch"', expected_version=0) for i in range(BATCH_KEYS)]
    single = pb.PutRequest(
        session_id=sid, key=f"k{BATCH_KEYS // 2}", value_json='"single"', expected_version=0
    )
    outcomes = await asyncio.gather(
        stub.BatchPut(pb.BatchPutRequest(session_id=sid, items=items)),
        stub.Put(single),
        return_exceptions=True,
    )
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException) or (
            isinstance(outcome, grpc.aio.AioRpcError) and outcome.code() is grpc.StatusCode.ABORTED
        )
    return tuple(not isinstance(o, BaseException) for o in outcomes)  # type: ignore[return-value]


async def test_a_batch_put_racing_single_puts_is_all_or_nothing(svc: Service) -> None:
    sids = [new_id() for _ in range(ROUNDS)]
    results = await asyncio.gather(*(race(svc.sessions, sid) for sid in sids))
    for sid, (batch_won, single_won) in zip(sids, results, strict=True):
        assert batch_won != single_won
        keys = [f"k{i}" for i in range(BATCH_KEYS)]
        found = (await svc.sessions.BatchGet(pb.BatchGetRequest(session_id=sid, keys=keys))).entries
        if batch_won:
            assert [e.value_json for e in found] == ['"batch"'] * BATCH_KEYS
            assert len({e.revision for e in found}) == 1
        else:
            assert [(e.key, e.value_json) for e in found] == [(f"k{BATCH_KEYS // 2}", '"single"')]
    print(f"\nbatch won {sum(b for b, _ in results)} of {ROUNDS} races")
