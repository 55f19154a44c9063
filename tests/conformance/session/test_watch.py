"""Watch: revision order without gaps, resume, trimmed log, snapshot, PROGRESS, SESSION_DROPPED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from context_service.application.common import RequestMeta
from context_service.application.session_watch import WatchQuery
from context_service.domain.errors import OutOfRange
from context_service.domain.session import ChangeEvent, EventType, PutItem, SessionOptions
from tests.conformance.session.backends import RETENTION
from tests.conformance.session.conftest import PROGRESS_SECONDS, Sessions

META = RequestMeta(correlation_id="test")
WAIT = 5.0


async def put(s: Sessions, sid: str, key: str, value: str = "1", **kw: object) -> None:
    await s.uc.put.execute(sid, [PutItem(key, value, **kw)], META, batch=False)  # type: ignore[arg-type]


async def take(
    stream: AsyncIterator[ChangeEvent], count: int, *, skip_progress: bool = True
) -> list[ChangeEvent]:
    taken: list[ChangeEvent] = []
    async with asyncio.timeout(WAIT):
        while len(taken) < count:
            event = await anext(stream)
            if not (skip_progress and event.type is EventType.PROGRESS):
                taken.append(event)
    return taken


async def test_changes_arrive_in_revision_order_without_gaps(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(max_entries=2))
    stream = await sessions.started(WatchQuery(sid))
    await put(sessions, sid, "a", ttl_ms=5)
    await sessions.uc.put.execute(sid, [PutItem("b", "1"), PutItem("c", "1")], META, batch=True)
    await sessions.uc.delete.execute(sid, "c", None, META)
    events = await take(stream, 5)
    assert [(e.type, e.key, e.revision) for e in events] == [
        (EventType.SET, "a", 1),
        (EventType.EVICT, "a", 2),
        (EventType.SET, "b", 3),
        (EventType.SET, "c", 3),
        (EventType.DELETE, "c", 4),
    ]
    assert events[1].entry is not None
    assert events[1].entry.key == "a"


async def test_expiries_reach_watchers(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=5)
    stream = await sessions.started(WatchQuery(sid))
    sessions.clock.advance(5)
    await sessions.uc.sweep.execute()
    [event] = await take(stream, 1)
    assert (event.type, event.key, event.revision) == (EventType.EXPIRE, "a", 2)


async def test_after_revision_resumes_exclusively(sessions: Sessions) -> None:
    sid = sessions.new_id()
    for key in ("a", "b", "c"):
        await put(sessions, sid, key)
    events = await take(sessions.watch(WatchQuery(sid, after_revision=1)), 2)
    assert [(e.key, e.revision) for e in events] == [("b", 2), ("c", 3)]


async def test_a_resume_before_the_retained_log_ends_out_of_range_naming_it(
    sessions: Sessions,
) -> None:
    sid = sessions.new_id()
    for i in range(RETENTION + 5):
        await put(sessions, sid, f"k{i}")
    stream = sessions.watch(WatchQuery(sid, after_revision=2))
    with pytest.raises(OutOfRange, match="oldest retained revision 6"):
        await take(stream, 1)
    events = await take(sessions.watch(WatchQuery(sid, after_revision=5)), 1)
    assert events[0].revision == 6


async def test_include_initial_sends_the_snapshot_then_progress_then_changes(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "analysis:a", '"x"')
    await put(sessions, sid, "other", '"y"')
    await put(sessions, sid, "analysis:b", '"z"')
    stream = sessions.watch(WatchQuery(sid, pattern="analysis:*", include_initial=True))
    head = await take(stream, 3, skip_progress=False)
    assert [(e.type, e.key, e.initial) for e in head] == [
        (EventType.SET, "analysis:a", True),
        (EventType.SET, "analysis:b", True),
        (EventType.PROGRESS, "", False),
    ]
    assert head[2].revision == 3
    await put(sessions, sid, "other", "2")
    await put(sessions, sid, "analysis:a", "3")
    [live] = await take(stream, 1)
    assert (live.key, live.revision, live.initial) == ("analysis:a", 5, False)


async def test_progress_comes_while_idle_with_the_latest_revision(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    stream = sessions.watch(WatchQuery(sid))
    started_at = asyncio.get_running_loop().time()
    [event] = await take(stream, 1, skip_progress=False)
    assert (event.type, event.revision) == (EventType.PROGRESS, 1)
    assert asyncio.get_running_loop().time() - started_at < PROGRESS_SECONDS + 1


async def test_include_prev_value_fills_the_value_before_the_change(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", '"old"')
    with_prev = sessions.watch(WatchQuery(sid, after_revision=0 + 1, include_prev_value=True))
    without = sessions.watch(WatchQuery(sid, after_revision=1))
    await put(sessions, sid, "a", '"new"')
    await sessions.uc.delete.execute(sid, "a", None, META)
    assert [e.prev_value_json for e in await take(with_prev, 2)] == ['"old"', '"new"']
    assert [e.prev_value_json for e in await take(without, 2)] == ["", ""]


async def test_drop_session_ends_every_watch_with_session_dropped(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    stream = await sessions.started(WatchQuery(sid, pattern="nothing-matches"))
    await sessions.uc.drop.execute(sid, META)
    [event] = await take(stream, 1)
    assert (event.type, event.revision) == (EventType.SESSION_DROPPED, 2)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_wait_under_a_millisecond_returns_without_waiting_for_a_change(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    async with asyncio.timeout(1.0):  # on Valkey a wait rounded down to BLOCK 0 would wait for a change
        found = await sessions.store.changes(sid, 1, 10, 0.0004)
    assert found == []
