"""In-memory SessionStore (zero-dependency mode): dicts, a bounded change log per session, asyncio wake-ups.

Every method runs without awaiting between its checks and its writes, so on the one event loop each call is
atomic, as each Valkey script is. A session's change log outlives a drop for `tombstone_ms`, so watchers of
another call still read SESSION_DROPPED and revisions never run backwards under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from context_service.adapters.memory.session_log import ChangeLog
from context_service.domain.session import (
    ChangeEvent,
    DeleteResult,
    DropResult,
    Entry,
    EventType,
    PutItem,
    PutResult,
    SessionInfo,
    SessionOptions,
    Snapshot,
    SweepResult,
)
from context_service.domain.session_rules import glob_regex
from context_service.ports.errors import EntryConflict, EntryTooLarge, SessionFull, WriteIdReused
from context_service.ports.session import ChangeNotice, NoticeFor, WriteId

DEFAULT_RETENTION = 10_000
DEFAULT_IDLE_MS = 24 * 3_600_000
DEFAULT_TOMBSTONE_MS = 300_000
# The most write ids remembered at once (the oldest forgotten first): memory stays bounded however many keyed
# writes come within a write id's lifetime.
MAX_REMEMBERED_WRITES = 100_000
_Result = TypeVar("_Result", PutResult, DeleteResult, DropResult)


@dataclass
class _Session:
    options: SessionOptions
    created_at_ms: int
    updated_at_ms: int
    entries: dict[str, Entry] = field(default_factory=dict)


class InMemorySessionStore:
    """Sessions in a dict; entries are immutable values, so nothing a caller holds can change them."""

    def __init__(
        self,
        *,
        retention: int = DEFAULT_RETENTION,
        idle_ms: int = DEFAULT_IDLE_MS,
        tombstone_ms: int = DEFAULT_TOMBSTONE_MS,
        max_remembered_writes: int = MAX_REMEMBERED_WRITES,
    ) -> None:
        self._retention = retention
        self._max_remembered = max_remembered_writes
        self._idle_ms = idle_ms
        self._tombstone_ms = tombstone_ms
        self._sessions: dict[str, _Session] = {}
        self._logs: dict[str, ChangeLog] = {}
        # (session, write id) -> fingerprint, kept until (ms), result; in the order written
        self._done: dict[tuple[str, str], tuple[str, int, PutResult | DeleteResult | DropResult]] = {}

    def _replayed(
        self, kind: type[_Result], session_id: str, write: WriteId | None, now_ms: int
    ) -> _Result | None:
        """The result of the change `write` names, when one was made; None when not (or no write id)."""
        if write is None:
            return None
        kept = self._done.get((session_id, write.key))
        if kept is None or kept[1] <= now_ms:
            return None
        fingerprint, _, result = kept
        if fingerprint != write.fingerprint or not isinstance(result, kind):
            raise WriteIdReused("the write id names an earlier change with other content")
        return result

    def _remember(self, session_id: str, write: WriteId | None, now_ms: int, result: _Result) -> _Result:
        if write is None:
            return result
        done = self._done
        # Forget what has run out, oldest first (a longer-lived one may hold others back: `_replayed` checks),
        # and the oldest past the bound.
        while done:
            oldest = next(iter(done))
            if done[oldest][1] > now_ms and len(done) < self._max_remembered:
                break
            del done[oldest]
        done.pop((session_id, write.key), None)  # one that ran out comes back at the end, in written order
        done[(session_id, write.key)] = (write.fingerprint, now_ms + write.ttl_ms, result)
        return result

    def _log(self, session_id: str) -> ChangeLog:
        return self._logs.setdefault(session_id, ChangeLog(self._retention))

    def _info(self, session_id: str, session: _Session, now_ms: int) -> SessionInfo:
        live = sum(1 for e in session.entries.values() if e.live_at(now_ms))
        revision = self._revision(session_id)
        return SessionInfo(
            session_id, session.options, revision, live, session.created_at_ms, session.updated_at_ms
        )

    def _new(self, session_id: str, options: SessionOptions, now_ms: int) -> _Session:
        self._log(session_id).dropped_at_ms = None  # a session created again ends its log's tombstone
        session = _Session(options, now_ms, now_ms)
        self._sessions[session_id] = session
        return session

    def _change(
        self, session_id: str, kind: EventType, key: str, entry: Entry | None, *, now_ms: int, prev: str = ""
    ) -> ChangeEvent:
        log = self._log(session_id)
        log.revision += 1
        if entry is not None and kind is EventType.SET:
            entry = replace(entry, revision=log.revision)
        event = ChangeEvent(kind, key, log.revision, now_ms, entry, prev)
        log.append(event)
        return event

    def _expire_due(self, session_id: str, session: _Session, now_ms: int) -> list[ChangeEvent]:
        due = sorted(
            (e for e in session.entries.values() if not e.live_at(now_ms)),
            key=lambda e: (e.expires_at_ms, e.key),
        )
        events = []
        for entry in due:
            del session.entries[entry.key]
            events.append(self._change(session_id, EventType.EXPIRE, entry.key, entry, now_ms=now_ms))
        return events

    async def create_session(
        self, session_id: str, options: SessionOptions, now_ms: int
    ) -> tuple[SessionInfo, bool]:
        """Create the session or set its options; True when it was created."""
        session = self._sessions.get(session_id)
        if session is None:
            return self._info(session_id, self._new(session_id, options, now_ms), now_ms), True
        session.options = options
        return self._info(session_id, session, now_ms), False

    async def get_session(self, session_id: str, now_ms: int) -> SessionInfo | None:
        """The session with its live entry count, or None."""
        session = self._sessions.get(session_id)
        return None if session is None else self._info(session_id, session, now_ms)

    async def list_sessions(self, prefix: str, after: str, limit: int, now_ms: int) -> list[SessionInfo]:
        """Sessions by id after `after`, starting with `prefix`."""
        ids = sorted(i for i in self._sessions if i.startswith(prefix) and i > after)[:limit]
        return [self._info(i, self._sessions[i], now_ms) for i in ids]

    async def drop_session(
        self,
        session_id: str,
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> DropResult:
        """Remove the session; its log keeps SESSION_DROPPED for the tombstone time (no outbox record: the
        store goes with the process)."""
        if (replayed := self._replayed(DropResult, session_id, write, now_ms)) is not None:
            return replayed
        session = self._sessions.pop(session_id, None)
        if session is None:
            return DropResult(False, 0)
        live = sum(1 for e in session.entries.values() if e.live_at(now_ms))
        event = self._change(session_id, EventType.SESSION_DROPPED, "", None, now_ms=now_ms)
        self._log(session_id).dropped_at_ms = now_ms
        result = DropResult(True, live, (event,), session.options.notifications)
        return self._remember(session_id, write, now_ms, result)

    def _check(self, session: _Session | None, items: Sequence[PutItem], now_ms: int) -> int:
        """Validate versions, sizes and capacity; the number of entries to evict."""
        options = session.options if session is not None else SessionOptions()
        live = {k: e for k, e in (session.entries if session else {}).items() if e.live_at(now_ms)}
        for index, item in enumerate(items):
            current = live[item.key].version if item.key in live else 0
            if item.expected_version is not None and item.expected_version != current:
                raise EntryConflict(
                    key=item.key, index=index, current=current, expected=item.expected_version
                )
            size = len(item.value_json.encode("utf-8"))
            if size > options.max_entry_bytes:
                raise EntryTooLarge(index=index, size=size, limit=options.max_entry_bytes)
        new = sum(1 for item in items if item.key not in live)
        over = len(live) + new - options.max_entries
        if over > 0 and (options.strict or new > options.max_entries):
            raise SessionFull(limit=options.max_entries)
        return max(over, 0)

    async def put(
        self,
        session_id: str,
        items: Sequence[PutItem],
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> PutResult:
        """Expire due entries, evict for room, write every item at one revision (no outbox record)."""
        if (replayed := self._replayed(PutResult, session_id, write, now_ms)) is not None:
            return replayed
        session = self._sessions.get(session_id)
        evict = self._check(session, items, now_ms)
        if session is None:
            session = self._new(session_id, SessionOptions(), now_ms)
        events = self._expire_due(session_id, session, now_ms)
        writing = {item.key for item in items}
        victims = sorted(
            (e for e in session.entries.values() if e.key not in writing), key=lambda e: (e.revision, e.key)
        )[:evict]
        for victim in victims:
            del session.entries[victim.key]
            events.append(self._change(session_id, EventType.EVICT, victim.key, victim, now_ms=now_ms))
        written = self._write(session_id, session, items, now_ms)
        events.extend(written)
        entries = tuple(e.entry for e in written if e.entry is not None)
        session.updated_at_ms = now_ms
        result = PutResult(
            entries,
            written[-1].revision,
            tuple(v.key for v in victims),
            tuple(events),
            session.options.notifications,
        )
        return self._remember(session_id, write, now_ms, result)

    def _write(
        self, session_id: str, session: _Session, items: Sequence[PutItem], now_ms: int
    ) -> list[ChangeEvent]:
        log = self._log(session_id)
        log.revision += 1
        events = []
        for item in items:
            old = session.entries.get(item.key)
            ttl = session.options.default_ttl_ms if item.ttl_ms is None else item.ttl_ms
            entry = Entry(
                item.key,
                item.value_json,
                1 if old is None else old.version + 1,
                log.revision,
                now_ms if old is None else old.created_at_ms,
                now_ms,
                now_ms + ttl if ttl > 0 else 0,
                item.source,
                item.tags,
            )
            session.entries[item.key] = entry
            prev = "" if old is None else old.value_json
            event = ChangeEvent(EventType.SET, item.key, log.revision, now_ms, entry, prev)
            log.append(event)
            events.append(event)
        return events

    async def get(self, session_id: str, keys: Sequence[str], now_ms: int) -> list[Entry]:
        """The live entries among `keys`, in the order asked."""
        session = self._sessions.get(session_id)
        if session is None:
            return []
        found = (session.entries.get(k) for k in keys)
        return [e for e in found if e is not None and e.live_at(now_ms)]

    async def delete(
        self,
        session_id: str,
        key: str,
        expected_version: int | None,
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> DeleteResult:
        """Remove a live entry (only at `expected_version` when given)."""
        if (replayed := self._replayed(DeleteResult, session_id, write, now_ms)) is not None:
            return replayed
        session = self._sessions.get(session_id)
        if session is None:
            if expected_version:
                raise EntryConflict(key=key, index=0, current=0, expected=expected_version)
            return self._remember(session_id, write, now_ms, DeleteResult(False, self._revision(session_id)))
        entry = session.entries.get(key)
        current = entry.version if entry is not None and entry.live_at(now_ms) else 0
        if expected_version is not None and expected_version != current:
            raise EntryConflict(key=key, index=0, current=current, expected=expected_version)
        events = self._expire_due(session_id, session, now_ms)
        if current:
            del session.entries[key]
            prev = entry.value_json if entry else ""
            events.append(self._change(session_id, EventType.DELETE, key, entry, now_ms=now_ms, prev=prev))
            session.updated_at_ms = now_ms
        revision = self._revision(session_id)
        result = DeleteResult(bool(current), revision, tuple(events), session.options.notifications)
        return self._remember(session_id, write, now_ms, result)

    async def latest_revision(self, session_id: str) -> int:
        """The revision of the session's latest logged change (also after a drop), 0 if none."""
        return self._revision(session_id)

    def _revision(self, session_id: str) -> int:
        log = self._logs.get(session_id)
        return 0 if log is None else log.revision

    async def find(
        self, session_id: str, *, pattern: str, tag: str, after_key: str, limit: int, now_ms: int
    ) -> Snapshot:
        """Live entries by key matching the glob and the tag, after `after_key`."""
        session = self._sessions.get(session_id)
        revision = self._revision(session_id)
        if session is None:
            return Snapshot((), revision)
        regex = glob_regex(pattern)
        found = sorted(
            (
                e
                for e in session.entries.values()
                if e.key > after_key
                and e.live_at(now_ms)
                and regex.fullmatch(e.key)
                and (not tag or tag in e.tags)
            ),
            key=lambda e: e.key,
        )
        return Snapshot(tuple(found[:limit]), revision, len(found) > limit)

    async def changes(
        self, session_id: str, after_revision: int, limit: int, wait_seconds: float
    ) -> list[ChangeEvent]:
        """Logged changes after `after_revision`, waiting up to `wait_seconds` for the first."""
        return await self._log(session_id).after(after_revision, limit, wait_seconds)

    async def sweep(self, now_ms: int, limit: int, notice_for: NoticeFor | None = None) -> list[SweepResult]:
        """Expire due entries, drop idle sessions, forget old tombstones (no outbox records)."""
        results: list[SweepResult] = []
        for session_id, session in list(self._sessions.items()):
            if len(results) >= limit:
                break
            if session.updated_at_ms + self._idle_ms <= now_ms:
                dropped = await self.drop_session(session_id, now_ms)
                results.append(SweepResult(session_id, dropped.events, dropped.notifications))
                continue
            events = self._expire_due(session_id, session, now_ms)
            if events:
                results.append(SweepResult(session_id, tuple(events), session.options.notifications))
        for session_id, log in list(self._logs.items()):
            gone = log.dropped_at_ms is not None and log.dropped_at_ms + self._tombstone_ms <= now_ms
            unused = log.dropped_at_ms is None and not log.events
            if (gone or unused) and session_id not in self._sessions:
                del self._logs[session_id]
        return results
