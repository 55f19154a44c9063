"""The typed async client against the real server: plain values in and out, and a subscription that
resumes by itself when its server goes away and another comes up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.policy_file import load_policy
from context_service.application.common import RequestMeta
from context_service.bootstrap import Container, memory_adapters, wire
from context_service.client.session import SessionClient, SessionEvent, VersionMismatch
from context_service.domain.session import PutItem
from context_service.local_servers import free_port
from tests.e2e.session.support import PROGRESS, WAIT, new_id
from tests.support.harness import Service, running_service


@pytest.fixture
async def svc() -> AsyncIterator[Service]:
    """The service on the in-memory backend."""
    async with running_service(sessions=PROGRESS) as service:
        yield service


async def test_values_round_trip_as_plain_python(svc: Service) -> None:
    async with SessionClient(svc.server_address, new_id(), source="mind:tim") as session:
        written = await session.set("analysis:mind:tim", {"score": 0.9, "notes": []}, ttl=60, tags=["mind"])
        assert (written.version, written.source, written.tags) == (1, "mind:tim", ("mind",))
        assert await session.get("analysis:mind:tim") == {"score": 0.9, "notes": []}
        assert await session.get("missing", "default") == "default"
        assert await session.has("analysis:mind:tim")
        revision = await session.set_many({"analysis:mind:ann": 1, "checkpoint:cp-1:decision": "go"})
        assert revision == 2
        assert await session.get_many(["analysis:mind:ann", "nope"]) == {"analysis:mind:ann": 1}
        assert list(await session.find_by_pattern("analysis:mind:*")) == [
            "analysis:mind:ann",
            "analysis:mind:tim",
        ]
        assert await session.find_by_tag("mind") == {"analysis:mind:tim": {"score": 0.9, "notes": []}}
        assert await session.delete("analysis:mind:ann")
        assert not await session.delete("analysis:mind:ann")


async def test_a_lost_compare_and_set_raises_version_mismatch(svc: Service) -> None:
    async with SessionClient(svc.server_address, new_id()) as session:
        await session.set("counter", 1, expected_version=0)
        with pytest.raises(VersionMismatch, match="version 1"):
            await session.set("counter", 2, expected_version=0)
        assert await session.get("counter") == 1


async def test_writes_sent_again_under_an_idempotency_key_are_made_once(svc: Service) -> None:
    async with SessionClient(svc.server_address, new_id()) as session:
        first = await session.set("checkpoint", "go", idempotency_key="cp-1")
        assert await session.set("checkpoint", "go", idempotency_key="cp-1") == first
        assert await session.set_many({"a": 1, "b": 2}, idempotency_key="batch-1") == 2
        assert await session.set_many({"a": 1, "b": 2}, idempotency_key="batch-1") == 2
        assert await session.delete("a", idempotency_key="del-1")
        assert await session.delete("a", idempotency_key="del-1")  # the first answer, not "none left"
        with pytest.raises(grpc.aio.AioRpcError) as reused:  # not a lost compare-and-set
            await session.set("checkpoint", "stop", idempotency_key="cp-1")
        assert reused.value.code() is grpc.StatusCode.ABORTED
        assert await session.get("checkpoint") == "go"
        assert await session.drop(idempotency_key="drop-1") == 2
        assert await session.drop(idempotency_key="drop-1") == 2


async def test_a_lost_compare_and_delete_raises_version_mismatch_and_keeps_the_entry(svc: Service) -> None:
    async with SessionClient(svc.server_address, new_id()) as session:
        await session.set("counter", 1)
        with pytest.raises(VersionMismatch, match="version 1"):
            await session.delete("counter", expected_version=2)
        assert await session.get("counter") == 1
        assert await session.delete("counter", expected_version=1)


async def collect(stream: AsyncIterator[SessionEvent], into: list[SessionEvent]) -> None:
    async for event in stream:
        into.append(event)


async def wait_for(events: list[SessionEvent], count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(events) < count:
        assert time.monotonic() < deadline, f"only {len(events)} of {count} events arrived"
        await asyncio.sleep(0.02)


def server_on(container: Container, port: int) -> GrpcServer:
    return GrpcServer(
        use_cases=container.use_cases,
        sessions=container.sessions,
        host="127.0.0.1",
        port=port,
        grace_seconds=1,
    )


async def test_subscribe_resumes_after_its_server_restarts_without_losing_a_change() -> None:
    container = wire(memory_adapters(), load_policy(), sessions=PROGRESS)
    port, sid, events = free_port(), new_id(), list[SessionEvent]()
    meta = RequestMeta(correlation_id="client-test")
    async with SessionClient(f"127.0.0.1:{port}", sid, reconnect_delay=0.05) as session:
        async with server_on(container, port):
            watcher = asyncio.create_task(collect(session.subscribe("analysis:*"), events))
            await asyncio.sleep(0.2)
            await session.set("analysis:a", 1)
            await wait_for(events, 1)
        # The server is gone; another replica (here: the use cases directly) writes meanwhile.
        await container.sessions.put.execute(sid, [PutItem("analysis:b", "2")], meta, batch=False)
        async with server_on(container, port):
            await wait_for(events, 2)
            await session.set("analysis:c", 3)
            await wait_for(events, 3)
        watcher.cancel()
    assert [(e.type, e.key, e.revision, e.entry.value if e.entry else None) for e in events] == [
        ("SET", "analysis:a", 1, 1),
        ("SET", "analysis:b", 2, 2),
        ("SET", "analysis:c", 3, 3),
    ]


async def test_shutdown_ends_open_watches_at_once(svc: Service) -> None:
    sid, events = new_id(), list[SessionEvent]()
    async with SessionClient(svc.server_address, sid) as session:
        watcher = asyncio.create_task(collect(session.subscribe(), events))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await svc.server.__aexit__(None, None, None)
        assert time.monotonic() - started < 1.0
        watcher.cancel()
