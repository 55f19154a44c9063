"""Hostile requests on the server-streaming RPCs (session Watch, sessions on Valkey): bad ids, revisions at
and past the int64 range, bad globs, streams dropped mid-read and by the hundred. Every outcome is a clear
status, never INTERNAL or UNKNOWN; every dropped stream is released; a good Watch still works after each."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from context_service.local_servers import LocalServer
from context_service.observability.metrics import REGISTRY
from fleet.context.session.v1 import session_pb2 as pb
from tests.e2e.session.support import new_id, take, valkey_service
from tests.e2e.test_hostile_input import HOSTILE, NEVER
from tests.support.harness import Service
from tests.support.services import built_services
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
WATCH = "/fleet.context.session.v1.SessionContextService/Watch"
READ_S = 0.5  # a live stream sends PROGRESS every 0.3 s (PROGRESS settings), so a read within this is due
INT64 = (-(2**63), 2**63 - 1)
GLOBS = ["*", "k*", "k?", "[", "[a-", "[!]", "[]]", "[z-a]", "\\", "k\\", "**", "{a,b}", "k\x00*", "*" * 600]
LONG_EXAMPLES = 400  # make test-chaos; make test runs the 60 of the test below
SESSION = new_id()

requests = st.builds(
    pb.WatchRequest,
    session_id=st.one_of(st.just(SESSION), st.sampled_from(HOSTILE), st.text(max_size=20)),
    pattern=st.one_of(st.sampled_from(GLOBS), st.sampled_from(HOSTILE), st.text(max_size=20)),
    after_revision=st.one_of(st.sampled_from([0, 1, 2, -1, 10**9, *INT64]), st.integers(*INT64)),
    include_initial=st.booleans(),
    include_prev_value=st.booleans(),
)


@pytest.fixture(scope="module")
async def watched(valkey: LocalServer) -> AsyncIterator[Service]:
    """The service with sessions on Valkey and one session holding a few keys."""
    async with valkey_service(valkey) as service:
        for key in ("k1", "k2", "other"):
            await service.sessions.Put(pb.PutRequest(session_id=SESSION, key=key, value_json='{"a": 1}'))
        yield service


def open_watch(service: Service, body: bytes) -> Any:
    """A Watch call sent as raw bytes (so bodies that are not valid messages reach the server)."""
    send = service.channel.unary_stream(
        WATCH, request_serializer=bytes, response_deserializer=pb.WatchResponse.FromString
    )
    return send(body, timeout=30)


async def drive(call: Any, reads: int) -> grpc.StatusCode | None:
    """Read up to `reads` responses, then drop the stream; its status if it ended first (None: still live)."""
    try:
        for _ in range(reads):
            async with asyncio.timeout(READ_S):
                if await call.read() is grpc.aio.EOF:
                    break
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    except TimeoutError:
        pass  # live but quiet: dropped below like any other
    if call.done():
        return await call.code()  # type: ignore[no-any-return]
    call.cancel()
    return None


async def assert_a_good_watch_works(service: Service) -> None:
    """A Watch of a key of its own sees the Put that follows its snapshot (an empty one, then PROGRESS)."""
    key, before = f"probe-{new_id()}", watchers()
    request = pb.WatchRequest(session_id=SESSION, pattern=key, include_initial=True)
    call = service.sessions.Watch(request, timeout=30)
    try:
        [snapshot_end] = await take(call, 1, skip_progress=False)
        assert snapshot_end.type == pb.EVENT_TYPE_PROGRESS
        put = await service.sessions.Put(pb.PutRequest(session_id=SESSION, key=key, value_json="1"))
        [seen] = await take(call, 1)
        assert (seen.type, seen.key, seen.revision) == (pb.EVENT_TYPE_SET, key, put.entry.revision)
    finally:
        call.cancel()
    await released(before)


def watchers() -> float:
    """Watch streams the in-process server holds open now."""
    return REGISTRY.get_sample_value("context_session_watchers") or 0.0


async def released(before: float) -> None:
    """Wait (bounded) until the server holds no more Watch streams than `before`."""
    await eventually(lambda: watchers() <= before, within=10, what="every dropped Watch released")


def test_watch_is_the_only_server_streaming_rpc_so_this_fuzzer_covers_them_all() -> None:
    streaming = {m.full_name for s in built_services() for m in s.methods if m.server_streaming}

    assert streaming == {"fleet.context.session.v1.SessionContextService.Watch"}


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=requests, reads=st.integers(0, 3))
@example(request=pb.WatchRequest(session_id=SESSION, after_revision=INT64[1]), reads=2)
@example(request=pb.WatchRequest(session_id=SESSION, after_revision=INT64[0]), reads=1)
@example(request=pb.WatchRequest(session_id=SESSION, pattern="[", include_initial=True), reads=2)
@example(request=pb.WatchRequest(session_id="\x00", pattern="*"), reads=1)
@example(request=pb.WatchRequest(session_id=SESSION, include_initial=True, include_prev_value=True), reads=0)
async def test_a_hostile_watch_ends_with_a_clear_status_or_streams_and_a_good_watch_still_works(
    watched: Service, request: pb.WatchRequest, reads: int
) -> None:
    await check_watch(watched, request.SerializeToString(), reads)


@pytest.mark.chaos
@settings(max_examples=LONG_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=requests, reads=st.integers(0, 3))
async def test_many_more_hostile_watches_end_with_a_clear_status_or_stream(
    watched: Service, request: pb.WatchRequest, reads: int
) -> None:
    await check_watch(watched, request.SerializeToString(), reads)


async def test_a_watch_request_that_is_not_a_valid_message_is_invalid_argument(watched: Service) -> None:
    # field 2 (pattern) holding an encoded lone surrogate: not UTF-8, so not a valid WatchRequest.
    body = pb.WatchRequest(session_id=SESSION).SerializeToString() + b"\x12\x03\xed\xa0\x80"

    code = await drive(open_watch(watched, body), reads=1)

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    await assert_a_good_watch_works(watched)


async def check_watch(service: Service, body: bytes, reads: int) -> None:
    """One hostile Watch: a clear status (or a live stream the client drops), released; a good Watch works."""
    before = watchers()

    code = await drive(open_watch(service, body), reads)

    event(f"Watch {code.name if code else 'dropped live'}")
    assert code not in NEVER, body[:300]
    await released(before)
    await assert_a_good_watch_works(service)


async def test_hundreds_of_watches_opened_and_dropped_at_once_are_released_and_watching_still_works(
    watched: Service,
) -> None:
    # Arrange
    before = watchers()
    channel = grpc.aio.insecure_channel(watched.server_address)
    send = channel.unary_stream(
        WATCH, request_serializer=bytes, response_deserializer=pb.WatchResponse.FromString
    )
    body = pb.WatchRequest(session_id=SESSION, pattern="k*", include_initial=True).SerializeToString()
    calls = [send(body, timeout=30) for _ in range(300)]
    await eventually(lambda: watchers() >= before + 300, within=20, what="every Watch open")

    # Act: a third dropped at once, a third after one read, a third abandoned unread with their channel
    codes = await asyncio.gather(*(drive(call, reads=i % 2) for i, call in enumerate(calls[:200])))
    del calls[:]
    gc.collect()  # a call object nobody holds is cancelled when collected (a client that vanished)
    await channel.close(grace=None)

    # Assert
    assert not {code for code in codes if code is not None} & NEVER, codes
    await released(before)
    await assert_a_good_watch_works(watched)
