"""Watch fan-out: one reader per session in a process, shared by every watcher, on every backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from context_service.application.common import RequestMeta
from context_service.application.session_feed import ChangeFeed
from context_service.application.session_watch import WatchQuery, WatchSession
from context_service.domain.session import ChangeEvent, EventType, PutItem
from tests.conformance.session.conftest import PROGRESS_SECONDS, Sessions

META = RequestMeta(correlation_id="test")
WAIT = 10.0


class Watcher:
    """A watch consumed by a task of its own into a list; `gate` cleared = the consumer stops reading."""

    def __init__(self, stream: AsyncGenerator[ChangeEvent]) -> None:
        self.events: list[ChangeEvent] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._consume(stream))

    async def _consume(self, stream: AsyncGenerator[ChangeEvent]) -> None:
        try:
            async for event in stream:
                # The flag as well as the cancel: a Valkey read may swallow a cancel (see periodic.py).
                if self._stopping:
                    return
                if event.type is not EventType.PROGRESS:
                    self.events.append(event)
                    self.arrived.set()
                await self.gate.wait()
        finally:
            await stream.aclose()

    async def until(self, revision: int, count: int = 0) -> list[int]:
        """The revisions received once one is `revision` and `count` events came (within a bound)."""
        async with asyncio.timeout(WAIT):
            while not self.events or self.events[-1].revision < revision or len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return [e.revision for e in self.events]

    async def ended(self) -> None:
        """Wait for the stream to end by itself."""
        async with asyncio.timeout(WAIT):
            await asyncio.gather(self._task, return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the consumer; the watch leaves the fan-out before this returns."""
        self._stopping = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Crowd:
    """The watchers of one test, stopped after it whatever its outcome."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.all: list[Watcher] = []

    def join(self, query: WatchQuery, watch: WatchSession | None = None) -> Watcher:
        """A watcher starting now (its first read runs when the loop next gets to it)."""
        w = Watcher((watch or self.sessions.uc.watch).execute(query))
        self.all.append(w)
        return w

    async def started(self, query: WatchQuery, watch: WatchSession | None = None) -> Watcher:
        """A watcher whose starting point is fixed (its first read done) before the test writes on."""
        w = self.join(query, watch)
        await asyncio.sleep(0.05)
        return w

    async def stop(self) -> None:
        """Stop every watcher; each leaves the fan-out before this returns."""
        for w in self.all:
            await w.stop()


@pytest.fixture
async def crowd(sessions: Sessions) -> AsyncIterator[Crowd]:
    """Watchers over the backend under test."""
    watchers = Crowd(sessions)
    try:
        yield watchers
    finally:
        await watchers.stop()


async def put(sessions: Sessions, sid: str, key: str) -> int:
    result = await sessions.uc.put.execute(sid, [PutItem(key, "1")], META, batch=False)
    return result.revision


async def test_watchers_of_one_session_share_one_reader_and_each_sees_every_change(
    sessions: Sessions, crowd: Crowd
) -> None:
    sid, other = sessions.new_id(), sessions.new_id()
    watchers = [await crowd.started(WatchQuery(sid)) for _ in range(5)]
    await crowd.started(WatchQuery(other))
    for i in range(10):
        await put(sessions, sid, f"k{i}")
    seen = [await w.until(10) for w in watchers]
    assert seen == [list(range(1, 11))] * 5
    assert sessions.uc.watch.readers == 2


async def test_the_last_watcher_leaving_stops_the_sessions_reader(sessions: Sessions, crowd: Crowd) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    first, second = [await crowd.started(WatchQuery(sid)) for _ in range(2)]
    await put(sessions, sid, "b")
    await first.until(2)
    await first.stop()
    readers_with_one_left = sessions.uc.watch.readers
    await second.stop()
    assert (readers_with_one_left, sessions.uc.watch.readers) == (1, 0)


async def test_watchers_joining_behind_the_reader_get_every_revision_once_across_the_seam(
    sessions: Sessions, crowd: Crowd
) -> None:
    sid = sessions.new_id()
    for i in range(10):
        await put(sessions, sid, f"k{i}")
    lead = await crowd.started(WatchQuery(sid))
    joiners: list[tuple[int, Watcher]] = []
    for i in range(30):
        after = 1 + i // 2  # behind the reader, which is already at the latest revision
        joiners.append((after, crowd.join(WatchQuery(sid, after_revision=after))))
        await put(sessions, sid, f"j{i}")
        if i % 3 == 0:
            await asyncio.sleep(0)  # let some joiners start between writes, others after several
    assert await lead.until(40) == list(range(11, 41))
    for after, joiner in joiners:
        assert await joiner.until(40) == list(range(after + 1, 41))
    await crowd.stop()
    assert sessions.uc.watch.readers == 0


async def test_a_slow_watcher_is_cut_off_without_stalling_others_and_catches_up_from_the_log(
    sessions: Sessions, crowd: Crowd
) -> None:
    sid = sessions.new_id()
    feed = ChangeFeed(store=sessions.store, queue_events=8)
    watch = WatchSession(
        store=sessions.store, clock=sessions.clock, feed=feed, progress_seconds=PROGRESS_SECONDS
    )
    fast = await crowd.started(WatchQuery(sid), watch)
    slow = await crowd.started(WatchQuery(sid), watch)
    await put(sessions, sid, "first")
    await slow.until(1)
    slow.gate.clear()  # the slow consumer stops reading: its queue fills up
    for i in range(20):
        await put(sessions, sid, f"k{i}")
        await asyncio.sleep(0.005)
    assert await fast.until(21) == list(range(1, 22))
    assert (feed.cut_offs, feed.readers) == (1, 1)
    slow.gate.set()
    assert await slow.until(21) == list(range(1, 22))
    await crowd.stop()
    assert feed.readers == 0


async def test_drop_session_ends_every_watcher_of_the_shared_reader(sessions: Sessions, crowd: Crowd) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    watchers = [await crowd.started(WatchQuery(sid, pattern="a*")) for _ in range(4)]
    await sessions.uc.drop.execute(sid, META)
    for w in watchers:
        await w.ended()
    assert [[(e.type, e.revision) for e in w.events] for w in watchers] == [
        [(EventType.SESSION_DROPPED, 2)]
    ] * 4
    assert sessions.uc.watch.readers == 0


async def test_a_batch_cut_by_a_full_read_reaches_the_watcher_whole(sessions: Sessions, crowd: Crowd) -> None:
    sid = sessions.new_id()
    for key in ("a", "b", "c"):
        await put(sessions, sid, key)
    for batch in ("x", "y"):
        items = [PutItem(f"{batch}{i:04}", "1") for i in range(1_000)]
        await sessions.uc.put.execute(sid, items, META, batch=True)
    resumed = await crowd.started(WatchQuery(sid, after_revision=1))
    await resumed.until(5, count=2_002)
    keys = [(e.revision, e.key) for e in resumed.events]
    assert keys[:3] == [(2, "b"), (3, "c"), (4, "x0000")]
    assert [k for r, k in keys if r == 5] == [f"y{i:04}" for i in range(1_000)]
    assert len(keys) == 2_002
