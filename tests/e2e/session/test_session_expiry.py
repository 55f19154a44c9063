"""The sweeper on the real clock: an expired entry's EXPIRE event reaches a watcher within a second."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import pytest

from context_service.adapters.session_sweeper import SessionSweeper
from context_service.bootstrap import memory_adapters
from fleet.context.session.v1 import session_pb2 as pb
from tests.e2e.session.support import PROGRESS, new_id, take, valkey_service
from tests.support.harness import Service, running_service

TTL_MS = 300


@pytest.mark.parametrize("backend", ["memory", "valkey"])
async def test_an_expired_entry_is_swept_with_an_expire_event_within_a_second(
    request: pytest.FixtureRequest, backend: str
) -> None:
    opened: AbstractAsyncContextManager[Service] = (
        running_service(adapters=memory_adapters(), sessions=PROGRESS)  # the real clock
        if backend == "memory"
        else valkey_service(request.getfixturevalue("valkey"))
    )
    async with opened as svc, SessionSweeper(sweep=svc.container.sessions.sweep, interval=0.25):
        sid = new_id()
        await svc.sessions.Put(pb.PutRequest(session_id=sid, key="keep", value_json="1", ttl_ms=0))
        call = svc.sessions.Watch(pb.WatchRequest(session_id=sid))
        await take(call, 1, skip_progress=False)
        put = await svc.sessions.Put(
            pb.PutRequest(session_id=sid, key="brief", value_json="1", ttl_ms=TTL_MS)
        )
        [written, expired] = await take(call, 2)
        call.cancel()
    assert (written.type, expired.type, expired.key, expired.revision) == (
        pb.EVENT_TYPE_SET,
        pb.EVENT_TYPE_EXPIRE,
        "brief",
        3,
    )
    assert 0 <= expired.at_ms - put.entry.expires_at_ms <= 1_000
