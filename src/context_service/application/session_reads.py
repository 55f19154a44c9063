"""Session context reads: Get/Has/BatchGet, Find, GetSession, ListSessions. Expired entries never show."""

from __future__ import annotations

from collections.abc import Sequence

from context_service.application.concurrent_reads import CoalescedReads
from context_service.domain import session_rules as rules
from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.session import Entry, SessionInfo, Snapshot
from context_service.ports.session import SessionStore
from context_service.ports.system import Clock


class GetEntries:
    """Get, Has and BatchGet: the live entries among the keys asked for, in that order.

    Calls asking for the same keys of one session at once share one store read sent after they arrived.
    """

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._reads = CoalescedReads(self._read)

    async def _read(self, asked: tuple[str, tuple[str, ...]]) -> list[Entry]:
        session_id, keys = asked
        return await self._store.get(session_id, keys, self._clock.now_ms())

    async def execute(self, session_id: str, keys: Sequence[str], field: str = "key") -> list[Entry]:
        """Validate every key, then one store read."""
        rules.session_id(session_id)
        if len(keys) > rules.MAX_BATCH_ITEMS:
            raise InvalidArgument(f"{field}: at most {rules.MAX_BATCH_ITEMS} keys", field=field)
        for index, key in enumerate(keys):
            rules.entry_key(key, field if field == "key" else f"{field}[{index}]")
        return list(await self._reads.get((session_id, tuple(keys))))


class FindEntries:
    """Live entries matching a glob and/or a tag, ordered by key, paginated."""

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def execute(
        self, session_id: str, pattern: str, tag: str, page_size: int, page_token: str
    ) -> tuple[Snapshot, str]:
        """One page and the token of the next ('' on the last page)."""
        rules.session_id(session_id)
        rules.pattern(pattern)
        if tag:
            rules.entry_key(tag, "tag")
        limit = rules.page_size(page_size)
        after = rules.decode_token(page_token)
        page = await self._store.find(
            session_id, pattern=pattern, tag=tag, after_key=after, limit=limit, now_ms=self._clock.now_ms()
        )
        token = rules.encode_token(page.entries[-1].key) if page.more and page.entries else ""
        return page, token


class GetSession:
    """One session's options and counters."""

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def execute(self, session_id: str) -> SessionInfo:
        """The session, or NOT_FOUND."""
        rules.session_id(session_id)
        found = await self._store.get_session(session_id, self._clock.now_ms())
        if found is None:
            raise NotFound("session", session_id)
        return found


class ListSessions:
    """Sessions ordered by id, paginated."""

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def execute(self, prefix: str, page_size: int, page_token: str) -> tuple[list[SessionInfo], str]:
        """One page and the token of the next ('' on the last page)."""
        if prefix:
            rules.session_id(prefix, "prefix")
        limit = rules.page_size(page_size)
        after = rules.decode_token(page_token)
        found = await self._store.list_sessions(prefix, after, limit + 1, self._clock.now_ms())
        token = rules.encode_token(found[limit - 1].session_id) if len(found) > limit else ""
        return found[:limit], token
