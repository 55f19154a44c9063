"""Watch a session's changes: in revision order, no gaps, no duplicates, from any replica; and the sweeper."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace

from context_service.application.common import RequestMeta
from context_service.application.session_feed import ChangeFeed, Follower
from context_service.application.session_notify import SessionNotifier
from context_service.domain import session_rules as rules
from context_service.domain.errors import OutOfRange
from context_service.domain.session import ChangeEvent, EventType
from context_service.ports.errors import ChangesTrimmed
from context_service.ports.session import ChangeNotice, SessionStore
from context_service.ports.system import Clock

SNAPSHOT = 1_000_000  # every live entry: a session holds far fewer


@dataclass(frozen=True)
class WatchQuery:
    """What to watch: keys matching `pattern`, after a revision or from now, with a snapshot first."""

    session_id: str
    pattern: str = ""
    after_revision: int = 0
    include_initial: bool = False
    include_prev_value: bool = False


class WatchSession:
    """An async iterator of change events; PROGRESS at least every `progress_seconds` while idle."""

    def __init__(
        self, *, store: SessionStore, clock: Clock, feed: ChangeFeed, progress_seconds: float = 10.0
    ) -> None:
        self._store = store
        self._clock = clock
        self._feed = feed
        self._progress = progress_seconds

    @property
    def readers(self) -> int:
        """Sessions whose change log this process is reading for its watchers."""
        return self._feed.readers

    def _mark(self, revision: int) -> ChangeEvent:
        return ChangeEvent(EventType.PROGRESS, "", revision, self._clock.now_ms())

    async def execute(self, query: WatchQuery) -> AsyncGenerator[ChangeEvent, None]:
        """Snapshot (if asked), then every matching change; ends after SESSION_DROPPED."""
        rules.session_id(query.session_id)
        rules.pattern(query.pattern)
        rules.not_negative(query.after_revision, "after_revision")
        after = query.after_revision
        if query.include_initial:
            now = self._clock.now_ms()
            snap = await self._store.find(
                query.session_id,
                pattern=query.pattern,
                tag="",
                after_key="",
                limit=SNAPSHOT,
                now_ms=now,
            )
            for entry in snap.entries:
                yield ChangeEvent(EventType.SET, entry.key, entry.revision, now, entry, initial=True)
            after = snap.revision
            yield self._mark(after)
        elif after == 0:
            after = await self._store.latest_revision(query.session_id)
        async with self._feed.follow(query.session_id, after) as follower:
            async for event in self._follow(query, follower):
                yield event

    async def _follow(self, query: WatchQuery, follower: Follower) -> AsyncIterator[ChangeEvent]:
        regex = rules.glob_regex(query.pattern)
        quiet_since = time.monotonic()
        while True:
            wait = max(0.0, self._progress - (time.monotonic() - quiet_since))
            try:
                events = await follower.next(wait)
            except ChangesTrimmed as exc:
                raise OutOfRange(
                    f"after_revision {follower.position} is older than the oldest retained revision "
                    f"{exc.oldest}; re-read with include_initial and watch from the snapshot's revision"
                ) from None
            for event in events:
                if event.type is EventType.SESSION_DROPPED:
                    yield event
                    return
                if regex.fullmatch(event.key):
                    yield event if query.include_prev_value else replace(event, prev_value_json="")
                    quiet_since = time.monotonic()
            if time.monotonic() - quiet_since >= self._progress:
                yield self._mark(follower.position)
                quiet_since = time.monotonic()


class SweepSessions:
    """Expire due entries and drop idle sessions, announcing each removal; the number of removals."""

    def __init__(
        self, *, store: SessionStore, notifier: SessionNotifier, clock: Clock, limit: int = 100
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._limit = limit

    async def execute(self) -> int:
        """One pass."""
        removed = 0
        for swept in await self._store.sweep(self._clock.now_ms(), self._limit, self._notice):
            removed += len(swept.events)
            meta = _sweep_meta(swept.session_id)
            await self._notifier.announce(
                swept.session_id, swept.events, swept.notifications, meta, swept.notice_key
            )
        return removed

    def _notice(self, session_id: str) -> ChangeNotice | None:
        return self._notifier.notice(session_id, _sweep_meta(session_id))


def _sweep_meta(session_id: str) -> RequestMeta:
    """The ids the sweeper's notifications of one session carry."""
    return RequestMeta(correlation_id=f"sweep:{session_id}")
