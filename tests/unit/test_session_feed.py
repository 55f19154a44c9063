"""The shared change-log reader when it fails: the in-memory store, and a store whose blocking reads break."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from context_service.adapters.memory.session import InMemorySessionStore
from context_service.application.session_feed import ChangeFeed
from context_service.application.session_watch import WatchQuery, WatchSession
from context_service.domain.errors import OutOfRange
from context_service.domain.session import ChangeEvent, EventType, PutItem
from context_service.ports.errors import StoreUnavailable
from tests.support.fakes import FixedClock

SID = "s-1"
WAIT = 5.0


class BlockingReadsBreak(InMemorySessionStore):
    """The in-memory store whose blocking change-log reads (the shared reader's) fail once `broken`."""

    broken = False

    async def changes(
        self, session_id: str, after_revision: int, limit: int, wait_seconds: float
    ) -> list[ChangeEvent]:
        """The in-memory read, or StoreUnavailable for a blocking read once broken."""
        if self.broken and wait_seconds > 0:
            raise StoreUnavailable("valkey session.changes: connection reset", backend="valkey")
        return await super().changes(session_id, after_revision, limit, wait_seconds)


def watching(store: InMemorySessionStore) -> tuple[WatchSession, ChangeFeed]:
    feed = ChangeFeed(store=store, poll_seconds=WAIT)  # the reader is surely waiting when a test writes
    return WatchSession(store=store, clock=FixedClock(), feed=feed, progress_seconds=0.2), feed


async def started(watch: WatchSession, query: WatchQuery) -> AsyncGenerator[ChangeEvent, None]:
    """A watch that has joined the fan-out (its first PROGRESS came)."""
    stream = watch.execute(query)
    async with asyncio.timeout(WAIT):
        while (await anext(stream)).type is not EventType.PROGRESS:
            pass
    return stream


async def rest(stream: AsyncGenerator[ChangeEvent, None], seen: list[str]) -> None:
    """Every key until the stream ends (PROGRESS left out) into `seen`; the stream's error propagates."""
    async with asyncio.timeout(WAIT):
        async for event in stream:
            if event.type is not EventType.PROGRESS:
                seen.append(event.key)


async def test_a_store_error_in_the_shared_read_ends_every_watcher_with_it_after_what_was_read() -> None:
    store = BlockingReadsBreak()
    await store.put(SID, [PutItem("a", "1")], 0)
    watch, feed = watching(store)
    streams = [await started(watch, WatchQuery(SID)) for _ in range(3)]
    store.broken = True
    await store.put(SID, [PutItem("b", "1")], 0)
    seen: list[list[str]] = [[], [], []]
    for stream, keys in zip(streams, seen, strict=True):
        with pytest.raises(StoreUnavailable):
            await rest(stream, keys)
    assert seen == [["b"]] * 3
    assert feed.readers == 0


async def test_a_reader_fallen_behind_the_retained_log_ends_each_watcher_out_of_range() -> None:
    store = InMemorySessionStore(retention=5)
    await store.put(SID, [PutItem("a", "1")], 0)
    watch, feed = watching(store)
    stream = await started(watch, WatchQuery(SID))
    for i in range(10):  # no pause between them: the reader only wakes after the log moved past it
        await store.put(SID, [PutItem(f"k{i}", "1")], 0)
    with pytest.raises(OutOfRange, match="after_revision 1 is older than the oldest retained revision 7"):
        await rest(stream, [])
    assert feed.readers == 0
