"""SessionStore on Valkey: one script call per change, every key of a session under one hash tag.

Two cluster-wide sorted sets sit beside the sessions (each command touches one of them alone): the ids for
ListSessions and each session's next due time (expiry or idle drop) for the sweeper. Both are hints the
scripts correct: a stale id or due time costs one wasted look-up, never a wrong answer. Change-log reads
(XREAD, blocking for a session's shared watch reader) use a connection pool of their own, so watched
sessions starve no request.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from context_service.adapters.valkey import session_codec as codec
from context_service.adapters.valkey import session_scripts as lua
from context_service.adapters.valkey.client import BACKEND, Command, ValkeyClient
from context_service.adapters.valkey.kv import document_head
from context_service.adapters.valkey.lua import LuaScript
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
from context_service.domain.session_rules import literal_prefix
from context_service.ports.errors import (
    ChangesTrimmed,
    EntryConflict,
    EntryTooLarge,
    PortError,
    SessionFull,
    WriteIdReused,
)
from context_service.ports.kv import session_scope
from context_service.ports.session import ChangeNotice, NoticeFor, WriteId

_CHANGES = frozenset({"CREATE", "DROP", "PUT", "DELETE", "SWEEP"})
_ONCE = frozenset({"DROP", "PUT", "DELETE"})  # the changes made at most once per write id
# How long the marker of a change sent by a client that may send it again lives: well past one call's
# deadline, within which the client sends again.
RESEND_MARKER_MS = 60_000
_SUFFIXES = ("meta", "hdr", "val", "exp", "lru", "keys", "tags", "log")
DEFAULT_RETENTION = 10_000
DEFAULT_IDLE_MS = 24 * 3_600_000
DEFAULT_TOMBSTONE_MS = 300_000


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _recorded(notice: ChangeNotice | None, written: Any) -> str:
    """The key of the outbox record a script wrote (its reply's flag), "" when it wrote none."""
    return notice.slot.key if notice is not None and int(written) == 1 else ""


class ValkeySessionStore:
    """Sessions under `prefix` (default "ctx:"); `watch_client` serves the blocking change-log reads.

    `record_prefix`: the key prefix of the outbox a notice's record goes to (the key-value store's on the same
    Valkey); None: the outbox is elsewhere, and no change writes a record.
    """

    def __init__(
        self,
        *,
        client: ValkeyClient,
        watch_client: ValkeyClient | None = None,
        prefix: str = "ctx:",
        retention: int = DEFAULT_RETENTION,
        idle_ms: int = DEFAULT_IDLE_MS,
        tombstone_ms: int = DEFAULT_TOMBSTONE_MS,
        max_block_seconds: float = 1.0,
        record_prefix: str | None = None,
    ) -> None:
        """`max_block_seconds` bounds each blocking read: keep it under the client's socket timeout."""
        self._client = client
        self._resends = client.may_resend
        self._record_prefix = record_prefix
        self._max_block_ms = max(1, int(max_block_seconds * 1000))
        self._watch = watch_client or client
        self._prefix = prefix
        self._ids = f"{prefix}sess:ids"
        self._due = f"{prefix}sess:due"
        self._retention = retention
        self._idle = idle_ms
        self._keep = idle_ms + tombstone_ms
        self._get = LuaScript(lua.GET)
        self._scripts = {
            name: LuaScript(getattr(lua, name))
            for name in ("CREATE", "INFO", "DROP", "PUT", "DELETE", "FIND", "SWEEP")
        }

    def _keys(self, session_id: str) -> list[str]:
        scope = session_scope(session_id)
        return [f"{self._prefix}{scope}:{suffix}" for suffix in _SUFFIXES]

    def _command(
        self,
        script: str,
        session_id: str,
        now_ms: int,
        *args: str,
        notice: ChangeNotice | None = None,
        write: WriteId | None = None,
    ) -> Command:
        keys = self._keys(session_id)
        keys.append(f"{self._prefix}{session_scope(session_id)}:done:{write.key if write else ''}")
        record = ["", "0"]
        if notice is not None and self._record_prefix is not None:
            keys.append(self._record_prefix + notice.slot.key)
            record = [document_head() + notice.head(), str(notice.slot.ttl_ms)]
        # The script's name with the fingerprint: a write id names one change, whatever its kind.
        marker = [f"{script}:{write.fingerprint}", str(write.ttl_ms)] if write is not None else ["", "0"]
        common = [str(now_ms), str(self._retention), str(self._keep), *record, *marker]
        return self._scripts[script].command(keys, [*common, *args])

    async def _run(
        self,
        script: str,
        session_id: str,
        now_ms: int,
        *args: str,
        notice: ChangeNotice | None = None,
        write: WriteId | None = None,
    ) -> Any:
        """One script call; a change waits for the configured replicas (an acknowledged session write
        must survive a failover). A change the client may send twice is given a write id of its own."""
        if write is None and script in _ONCE and self._resends:
            write = WriteId(f"{random.getrandbits(128):032x}", "", RESEND_MARKER_MS)
        call = self._command(script, session_id, now_ms, *args, notice=notice, write=write)
        reply = await self._client.run(f"session.{script.lower()}", call, durable=script in _CHANGES)
        if isinstance(reply, list) and reply and reply[0] == "reused":
            raise WriteIdReused("the write id names an earlier change with other content", backend=BACKEND)
        return reply

    async def _index(self, session_id: str, due: int) -> None:
        """Tell the cluster-wide indexes about a (new or sooner due) session, in one round trip."""
        if due < 0:
            return
        ids = Command(self._ids, ("ZADD", self._ids, 0, session_id))
        await self._client.batch(
            "session.index", [ids, Command(self._due, ("ZADD", self._due, due, session_id))]
        )

    async def _forget(self, session_id: str) -> None:
        removals = [Command(key, ("ZREM", key, session_id)) for key in (self._ids, self._due)]
        await self._client.batch("session.index", removals)

    async def create_session(
        self, session_id: str, options: SessionOptions, now_ms: int
    ) -> tuple[SessionInfo, bool]:
        """Create the session or set its options; True when it was created."""
        o = options
        args = (o.default_ttl_ms, o.max_entries, o.max_entry_bytes, int(o.strict), int(o.notifications))
        created, raw, due = await self._run("CREATE", session_id, now_ms, *map(str, args), str(self._idle))
        await self._index(session_id, int(due))
        return codec.info(session_id, raw), bool(created)

    async def get_session(self, session_id: str, now_ms: int) -> SessionInfo | None:
        """The session with its live entry count, or None."""
        raw = await self._run("INFO", session_id, now_ms)
        return None if raw is None else codec.info(session_id, raw)

    async def list_sessions(self, prefix: str, after: str, limit: int, now_ms: int) -> list[SessionInfo]:
        """Sessions by id (the id index; each page's ids checked against their metas in one batch)."""
        start = f"({after}" if after and after >= prefix else f"[{prefix}" if prefix else "-"
        found: list[SessionInfo] = []
        while len(found) < limit:
            async with self._client.call("session.list") as redis:
                ids = [str(i) for i in await redis.zrangebylex(self._ids, start, "+", start=0, num=limit)]
            matching = list(itertools.takewhile(lambda i: i.startswith(prefix), ids))
            infos = [self._command("INFO", session_id, now_ms) for session_id in matching]
            for session_id, raw in zip(
                matching, await self._client.batch("session.info", infos), strict=True
            ):
                if raw is None:
                    await self._forget(session_id)
                elif len(found) < limit:
                    found.append(codec.info(session_id, raw))
            if len(matching) < limit:  # the index ran out, or past the prefix
                break
            start = "(" + ids[-1]
        return found

    async def drop_session(
        self,
        session_id: str,
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> DropResult:
        """Remove the session; its log keeps SESSION_DROPPED for the tombstone time."""
        reply = await self._run("DROP", session_id, now_ms, notice=notice, write=write)
        if reply[0] == "none":
            return DropResult(False, 0)
        await self._forget(session_id)
        _, live, notify, events, noticed = reply
        events = tuple(map(codec.event, events))
        return DropResult(True, int(live), events, notify != "0", _recorded(notice, noticed))

    async def put(
        self,
        session_id: str,
        items: Sequence[PutItem],
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> PutResult:
        """Write the items at one revision, all or nothing (one script call)."""
        d = SessionOptions()
        args = [str(self._idle), str(d.default_ttl_ms), str(d.max_entries), str(d.max_entry_bytes)]
        for item in items:
            args += [item.key, item.value_json, _opt(item.ttl_ms), _opt(item.expected_version)]
            args += [codec.header_fields(item.source, item.tags), "\x1f".join(item.tags)]
        reply = await self._run("PUT", session_id, now_ms, *args, notice=notice, write=write)
        self._raise_refusal(reply, items)
        _, revision, notify, due, raw_events, noticed = reply
        await self._index(session_id, int(due))
        sent = {item.key: item.value_json for item in items}
        events = tuple(codec.event(raw, sent) for raw in raw_events)
        entries = tuple(e.entry for e in events if e.type is EventType.SET and e.entry is not None)
        evicted = tuple(e.key for e in events if e.type is EventType.EVICT)
        return PutResult(entries, int(revision), evicted, events, notify != "0", _recorded(notice, noticed))

    @staticmethod
    def _raise_refusal(reply: list[Any], items: Sequence[PutItem]) -> None:
        status = reply[0]
        if status == "conflict":
            index, current = int(reply[1]), int(reply[2])
            expected = items[index].expected_version if items else None
            key = items[index].key if items else ""
            raise EntryConflict(key=key, index=index, current=current, expected=expected or 0)
        if status == "too_large":
            raise EntryTooLarge(index=int(reply[1]), size=int(reply[2]), limit=int(reply[3]))
        if status == "full":
            raise SessionFull(limit=int(reply[1]))
        if status != "ok":
            raise PortError(f"unexpected script reply {status!r}", backend=BACKEND, operation="session")

    async def get(self, session_id: str, keys: Sequence[str], now_ms: int) -> list[Entry]:
        """The live entries among `keys`, in the order asked (one small script: header and value agree)."""
        if not keys:
            return []
        hdr, val = self._keys(session_id)[1:3]
        found = await self._client.run("session.get", self._get.command([hdr, val], [str(now_ms), *keys]))
        return [codec.entry(str(k), str(h), str(v)) for k, h, v in found]

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
        args = (str(self._idle), key, _opt(expected_version))
        reply = await self._run("DELETE", session_id, now_ms, *args, notice=notice, write=write)
        if reply[0] == "conflict":
            raise EntryConflict(key=key, index=0, current=int(reply[2]), expected=expected_version or 0)
        _, revision, notify, due, raw_events, noticed = reply
        await self._index(session_id, int(due))
        events = tuple(map(codec.event, raw_events))
        deleted = any(e.type is EventType.DELETE for e in events)
        return DeleteResult(deleted, int(revision), events, notify != "0", _recorded(notice, noticed))

    async def find(
        self, session_id: str, *, pattern: str, tag: str, after_key: str, limit: int, now_ms: int
    ) -> Snapshot:
        """Live entries by key matching the glob and the tag, after `after_key` (one script call)."""
        args = (codec.lua_pattern(pattern), tag, after_key, str(limit), literal_prefix(pattern))
        revision, more, found = await self._run("FIND", session_id, now_ms, *args)
        entries = tuple(codec.entry(str(k), str(h), str(v)) for k, h, v in found)
        return Snapshot(entries, int(revision), bool(more))

    async def latest_revision(self, session_id: str) -> int:
        """The revision of the latest logged change (also just after a drop), 0 if none."""
        async with self._client.call("session.latest") as redis:
            last = await redis.xrevrange(self._keys(session_id)[-1], count=1)
        return int(str(last[0][0]).split("-", 1)[0]) if last else 0

    async def changes(
        self, session_id: str, after_revision: int, limit: int, wait_seconds: float
    ) -> list[ChangeEvent]:
        """Logged changes after `after_revision` (XREAD, blocking up to `wait_seconds` for the first)."""
        log = self._keys(session_id)[-1]
        # At least 1 ms: BLOCK 0 would wait for a change however long it takes (a wait under 1 ms
        # would otherwise round down to it).
        block = max(1, min(int(wait_seconds * 1000), self._max_block_ms)) if wait_seconds > 0 else None
        async with self._watch.call("session.changes") as redis:
            reply = await redis.xread({log: codec.stream_position(after_revision)}, count=limit, block=block)
        rows: list[Any] = codec.stream_rows(reply)
        events = [codec.logged(str(i), dict(fields)) for i, fields in rows]
        if events and (events[0].revision != after_revision + 1 or not str(rows[0][0]).endswith("-0")):
            raise ChangesTrimmed(oldest=events[0].revision)
        return events

    async def sweep(self, now_ms: int, limit: int, notice_for: NoticeFor | None = None) -> list[SweepResult]:
        """Sweep the sessions whose due time has come (expiries and idle drops)."""
        async with self._client.call("session.due") as redis:
            due = await redis.zrangebyscore(self._due, "-inf", now_ms, start=0, num=limit)
        results = []
        for session_id in (str(s) for s in due):
            notice = None if notice_for is None else notice_for(session_id)
            reply = await self._run("SWEEP", session_id, now_ms, str(self._idle), notice=notice)
            if reply[0] == "gone" or reply[0] == "dropped":
                await self._forget(session_id)
            if reply[0] == "gone":
                continue
            events = tuple(map(codec.event, reply[3]))
            if reply[0] == "ok":
                await self._reschedule(session_id, int(reply[1]))
            if events:
                results.append(SweepResult(session_id, events, reply[2] != "0", _recorded(notice, reply[4])))
        return results

    async def _reschedule(self, session_id: str, due: int) -> None:
        async with self._client.call("session.index") as redis:
            await redis.zadd(self._due, {session_id: due})
