"""Session context writes: Put, BatchPut, Delete, CreateSession, DropSession — each one atomic store call.

Input is checked field by field before anything is written; what the store refuses (a lost compare-and-set,
an oversized value, a full strict session) becomes the domain error naming the field. Every change the
store reports (writes, and the expiries and evictions it made on the way) is announced on NATS.

A write under an `idempotency-key` (Put, BatchPut, Delete, DropSession) is made once per session: the same
key and request again get the first answer and change nothing; the same key with another request is ABORTED.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import TypeVar

from context_service.application.common import KEY_REUSED, RequestMeta
from context_service.application.session_notify import SessionNotifier
from context_service.domain import session_rules as rules
from context_service.domain.errors import Aborted, InvalidArgument, ResourceExhausted
from context_service.domain.session import (
    DeleteResult,
    DropResult,
    PutItem,
    PutResult,
    SessionInfo,
    SessionOptions,
)
from context_service.ports.errors import EntryConflict, EntryTooLarge, SessionFull, WriteIdReused
from context_service.ports.session import SessionStore, WriteId
from context_service.ports.system import Clock

T = TypeVar("T")
# How long a session write made under an idempotency key is remembered: long past any retry of it, and short
# beside the story writes' day, as session writes come many times faster (about 370 bytes each on Valkey).
IDEMPOTENCY_TTL_MS = 3_600_000


def write_id(meta: RequestMeta, *request: object) -> WriteId | None:
    """The write id of a request made under an idempotency key (None without one, at no cost): the key's
    digest, and the fingerprint of what the request asks (its values; dataclasses as their fields)."""
    if not meta.idempotency_key:
        return None
    key = hashlib.sha256(meta.idempotency_key.encode("utf-8")).hexdigest()[:32]
    content = json.dumps(request, ensure_ascii=False, separators=(",", ":"), default=_fields)
    fingerprint = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return WriteId(key, fingerprint, IDEMPOTENCY_TTL_MS)


def _fields(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not part of a request")


async def refused_as_domain_errors(call: Callable[[], Awaitable[T]], *, batch: bool) -> T:
    """Run a store write, turning its refusals into domain errors that name the request field."""
    try:
        return await call()
    except EntryConflict as exc:
        where = f"items[{exc.index}]." if batch else ""
        raise Aborted(
            f"{where}expected_version: entry '{exc.key}' is at version {exc.current}, not {exc.expected}"
        ) from None
    except EntryTooLarge as exc:
        name = f"items[{exc.index}].value_json" if batch else "value_json"
        raise InvalidArgument(
            f"{name} is {exc.size} bytes, over the session's max_entry_bytes of {exc.limit}", field=name
        ) from None
    except SessionFull as exc:
        raise ResourceExhausted(
            f"the session is strict and holds at most {exc.limit} entries (max_entries)"
        ) from None
    except WriteIdReused:
        raise Aborted(KEY_REUSED) from None


class PutEntries:
    """Put and BatchPut: all items at one revision, or none."""

    def __init__(self, *, store: SessionStore, notifier: SessionNotifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock

    async def execute(
        self, session_id: str, items: Sequence[PutItem], meta: RequestMeta, *, batch: bool
    ) -> PutResult:
        """Validate, write atomically, announce each change."""
        rules.session_id(session_id)
        checked = rules.batch(items) if batch else (rules.put_item(items[0]),)
        notice = self._notifier.notice(session_id, meta)
        once = write_id(meta, "put", checked)
        now_ms = self._clock.now_ms()
        result = await refused_as_domain_errors(
            lambda: self._store.put(session_id, checked, now_ms, notice, write=once), batch=batch
        )
        await self._notifier.announce(
            session_id, result.events, result.notifications, meta, result.notice_key
        )
        return result


class DeleteEntry:
    """Delete one entry, optionally only at an expected version."""

    def __init__(self, *, store: SessionStore, notifier: SessionNotifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock

    async def execute(
        self, session_id: str, key: str, expected_version: int | None, meta: RequestMeta
    ) -> DeleteResult:
        """Validate, delete atomically, announce."""
        rules.session_id(session_id)
        rules.entry_key(key)
        rules.not_negative(expected_version, "expected_version")
        notice = self._notifier.notice(session_id, meta)
        once = write_id(meta, "delete", key, expected_version)
        now_ms = self._clock.now_ms()
        result = await refused_as_domain_errors(
            lambda: self._store.delete(session_id, key, expected_version, now_ms, notice, write=once),
            batch=False,
        )
        await self._notifier.announce(
            session_id, result.events, result.notifications, meta, result.notice_key
        )
        return result


class CreateSession:
    """Create a session or change its options (idempotent)."""

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def execute(self, session_id: str, options: SessionOptions) -> tuple[SessionInfo, bool]:
        """The session as it now is, and whether it was created."""
        rules.session_id(session_id)
        return await self._store.create_session(session_id, rules.options(options), self._clock.now_ms())


class DropSession:
    """Remove a session and every entry; its watchers end with SESSION_DROPPED."""

    def __init__(self, *, store: SessionStore, notifier: SessionNotifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock

    async def execute(self, session_id: str, meta: RequestMeta) -> DropResult:
        """Drop and announce."""
        rules.session_id(session_id)
        notice = self._notifier.notice(session_id, meta)
        once = write_id(meta, "drop")
        now_ms = self._clock.now_ms()
        result = await refused_as_domain_errors(
            lambda: self._store.drop_session(session_id, now_ms, notice, write=once), batch=False
        )
        await self._notifier.announce(
            session_id, result.events, result.notifications, meta, result.notice_key
        )
        return result
