"""One reader of a session's change log per process, fanned out to every watcher of that session.

The first watcher of a session starts its reader; the last one to leave stops it. The reader reads the log
(one blocking read at a time) and hands each batch to every watcher's bounded queue without waiting for
any of them. A watcher whose queue overflows is cut off the fan-out: it reads the log itself from where it
is (as a resume would) until it is level with the log again, then rejoins. A new watcher, or one rejoining,
reads the log up to the reader's position and takes the queue from there: revisions only ever rise, so
the seam has neither a gap nor a duplicate. A reader that fails (a trimmed log, a store error) cuts every
watcher off and stops: a trimmed log sends each watcher to read the log itself (where it may or may not
meet the gap); a store error ends every watcher with it, as the watcher's own read would have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from context_service.domain.session import ChangeEvent
from context_service.ports.errors import ChangesTrimmed
from context_service.ports.session import SessionStore

# More than the events of one revision (a BatchPut holds at most 1,000 items; every expiry and eviction
# takes a revision of its own), so a full read always holds at least one whole revision.
BATCH = 2_000
QUEUE_EVENTS = 4_096


async def read_whole(
    store: SessionStore, session_id: str, after: int, wait_seconds: float
) -> list[ChangeEvent]:
    """The logged changes after `after`, ending on a whole revision (a full read may stop inside one)."""
    events = await store.changes(session_id, after, BATCH, wait_seconds)
    if len(events) < BATCH:
        return events
    last = events[-1].revision
    return [event for event in events if event.revision != last]


class _Queue:
    """One watcher's share of the fan-out: batches in revision order, at most `limit` events."""

    def __init__(self, limit: int) -> None:
        self.batches: deque[list[ChangeEvent]] = deque()
        self.cut = False
        self.failure: Exception | None = None
        self.ready = asyncio.Event()
        self._limit = limit
        self._size = 0

    def offer(self, events: list[ChangeEvent]) -> bool:
        """Queue a batch; False (and cut off) when it would overflow."""
        if self._size + len(events) > self._limit:
            self.cut_off()
            return False
        self.batches.append(events)
        self._size += len(events)
        self.ready.set()
        return True

    def cut_off(self, failure: Exception | None = None) -> None:
        """Detach the queue from the reader (what it holds is still in order), with the reader's failure."""
        self.cut = True
        self.failure = failure
        self.ready.set()

    def take(self) -> list[ChangeEvent] | None:
        """The oldest queued batch, or None."""
        if not self.batches:
            return None
        batch = self.batches.popleft()
        self._size -= len(batch)
        return batch


class _Reader:
    """The one loop reading a session's log from `position`, handing each batch to every queue."""

    def __init__(self, feed: ChangeFeed, session_id: str, position: int) -> None:
        self.position = position
        self.queues: set[_Queue] = set()
        self._feed = feed
        self._session_id = session_id
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"session-feed:{session_id}")

    async def _run(self) -> None:
        feed = self._feed
        # The flag ends the loop even when a store call swallowed the cancel (see adapters/periodic.py).
        while not self._stopping:
            try:
                events = await read_whole(feed.store, self._session_id, self.position, feed.poll_seconds)
            except ChangesTrimmed:  # fell behind the log: each watcher reads it from where it is
                self._end()
                return
            except Exception as exc:  # handed to every watcher: each raises it, as its own read would
                self._end(exc)
                return
            if events and not self._stopping:
                self.position = events[-1].revision
                for queue in [q for q in self.queues if not q.offer(events)]:
                    self.queues.discard(queue)
                    feed.cut_offs += 1
                if not self.queues:
                    self._end()

    def _end(self, failure: Exception | None = None) -> None:
        """Cut every queue off and leave the registry (a new watcher starts a new reader)."""
        self._stopping = True
        for queue in self.queues:
            queue.cut_off(failure)
        self.queues.clear()
        self._feed.forget(self._session_id, self)

    async def stop(self) -> None:
        """End the loop (flag and cancel) and wait for it, so its store connection is back in its pool."""
        self._stopping = True
        if self._task is not asyncio.current_task():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Follower:
    """One watcher's view of the feed: every change after `position`, in order, once."""

    def __init__(self, feed: ChangeFeed, session_id: str, position: int) -> None:
        self.position = position
        self._feed = feed
        self._session_id = session_id
        self._queue: _Queue | None = None
        self._reader: _Reader | None = None
        self._level_at = 0  # the reader's position when this follower joined: the log serves up to it

    async def next(self, wait_seconds: float) -> list[ChangeEvent]:
        """The changes after the last ones returned; [] when none came within `wait_seconds`.

        Raises ChangesTrimmed when the log no longer holds the next revision.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            events = await self._available()
            if events:
                return self._took(events)
            remaining = deadline - loop.time()
            if events is None or self._queue is None:
                continue
            if remaining <= 0:
                return []
            self._queue.ready.clear()  # nothing queued and not cut: the reader sets it on its next offer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._queue.ready.wait()

    async def _available(self) -> list[ChangeEvent] | None:
        """What is there without waiting: [] when level with the fan-out, None when its state changed."""
        if self._queue is None or self.position < self._level_at:
            events = await read_whole(self._feed.store, self._session_id, self.position, 0)
            if events:
                return events
            if self._queue is None:
                await self._join()  # level with the log: join, then read up to the reader's position
            else:
                self._level_at = 0  # the log ends before it (it was removed): the queue serves the rest
            return None
        fresh = self._from_queue(self._queue)
        if fresh or not self._queue.cut:
            return fresh
        failure = self._queue.failure
        self._detach()
        if failure is not None:
            raise failure.with_traceback(None)  # the same error for every watcher: no shared trace
        return None

    def _from_queue(self, queue: _Queue) -> list[ChangeEvent]:
        """The next queued changes this follower has not returned yet ([] when the queue is empty)."""
        while (batch := queue.take()) is not None:
            fresh = [event for event in batch if event.revision > self.position]
            if fresh:
                return fresh
        return []

    def _took(self, events: list[ChangeEvent]) -> list[ChangeEvent]:
        self.position = events[-1].revision
        return events

    async def _join(self) -> None:
        self._reader = await self._feed.reader(self._session_id)
        self._queue = _Queue(self._feed.queue_events)
        self._reader.queues.add(self._queue)
        self._level_at = self._reader.position

    def _detach(self) -> None:
        if self._reader is not None and self._queue is not None:
            self._reader.queues.discard(self._queue)
        self._reader, self._queue = None, None

    async def __aenter__(self) -> Follower:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.leave()

    async def leave(self) -> None:
        """Leave the fan-out; the last watcher of a session stops its reader."""
        reader, queue = self._reader, self._queue
        self._reader, self._queue = None, None
        if reader is not None and queue is not None:
            reader.queues.discard(queue)
            if not reader.queues:
                self._feed.forget(self._session_id, reader)
                await reader.stop()


class ChangeFeed:
    """The process's readers of session change logs, one per watched session."""

    def __init__(
        self, *, store: SessionStore, poll_seconds: float = 1.0, queue_events: int = QUEUE_EVENTS
    ) -> None:
        """`poll_seconds` bounds each blocking read; `queue_events` bounds what a watcher may fall behind."""
        self.store = store
        self.poll_seconds = poll_seconds
        self.queue_events = queue_events
        self.cut_offs = 0  # watchers cut off the fan-out for falling behind (each then read the log itself)
        self._readers: dict[str, _Reader] = {}

    @property
    def readers(self) -> int:
        """Sessions with a running reader."""
        return len(self._readers)

    def follow(self, session_id: str, after: int) -> Follower:
        """A follower of the session's changes after revision `after` (an async context manager: leaving
        the block leaves the fan-out)."""
        return Follower(self, session_id, after)

    async def reader(self, session_id: str) -> _Reader:
        """The session's reader, started at the log's latest revision when there is none yet."""
        reader = self._readers.get(session_id)
        if reader is None:
            latest = await self.store.latest_revision(session_id)
            reader = self._readers.get(session_id)  # another watcher may have started it meanwhile
            if reader is None:
                reader = self._readers[session_id] = _Reader(self, session_id, latest)
        return reader

    def forget(self, session_id: str, reader: _Reader) -> None:
        """Drop `reader` from the registry (if it is still the session's)."""
        if self._readers.get(session_id) is reader:
            del self._readers[session_id]
