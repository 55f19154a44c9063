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
from context_service.ports.session import ChangeNotice, SessionStore, WriteId
from context_service.ports.system import Clock

T = TypeVar("T")
R = TypeVar("R", PutResult, DeleteResult, DropResult)
# How long a session write made under an idempotency key is remembered: long past any retry of it, and short
# beside the story writes' day (update_context.IDEMPOTENCY_TTL_SECONDS), as session writes come many times
# faster (about 370 bytes each on Valkey).
SESSION_IDEMPOTENCY_TTL_MS = 3_600_000


def write_id(meta: RequestMeta, *request: object) -> WriteId | None:
    """The write id of a request made under an idempotency key (None without one, at no cost): the key's
    digest, and the fingerprint of what the request asks (its values; dataclasses as their fields)."""
    if not meta.idempotency_key:
        return None
    key = hashlib.sha256(meta.idempotency_key.encode("utf-8")).hexdigest()[:32]
    content = json.dumps(request, ensure_ascii=False, separators=(",", ":"), default=_fields)
    fingerprint = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return WriteId(key, fingerprint, SESSION_IDEMPOTENCY_TTL_MS)


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


class _SessionChange:
    """The steps around every session change's store call: the outbox notice it writes with itself, its write
    id under an idempotency key, the store's refusals as domain errors, and the announcement."""

    def __init__(self, *, store: SessionStore, notifier: SessionNotifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock

    async def _change(
        self,
        session_id: str,
        meta: RequestMeta,
        request: tuple[object, ...],
        write: Callable[[int, ChangeNotice | None, WriteId | None], Awaitable[R]],
        *,
        batch: bool = False,
    ) -> R:
        """`write(now_ms, notice, write id)` made once per idempotency key, then announced."""
        notice = self._notifier.notice(session_id, meta)
        once = write_id(meta, *request)
        now_ms = self._clock.now_ms()
        result = await refused_as_domain_errors(lambda: write(now_ms, notice, once), batch=batch)
        await self._notifier.announce(
            session_id, result.events, result.notifications, meta, result.notice_key
        )
        return result


class PutEntries(_SessionChange):
    """Put and BatchPut: all items at one revision, or none."""

    async def execute(
        self, session_id: str, items: Sequence[PutItem], meta: RequestMeta, *, batch: bool
    ) -> PutResult:
        """Validate, write atomically, announce each change."""
        rules.session_id(session_id)
        checked = rules.batch(items) if batch else (rules.put_item(items[0]),)
        return await self._change(
            session_id,
            meta,
            ("put", checked),
            lambda now_ms, notice, once: self._store.put(session_id, checked, now_ms, notice, write=once),
            batch=batch,
        )


class DeleteEntry(_SessionChange):
    """Delete one entry, optionally only at an expected version."""

    async def execute(
        self, session_id: str, key: str, expected_version: int | None, meta: RequestMeta
    ) -> DeleteResult:
        """Validate, delete atomically, announce."""
        rules.session_id(session_id)
        rules.entry_key(key)
        rules.not_negative(expected_version, "expected_version")
        return await self._change(
            session_id,
            meta,
            ("delete", key, expected_version),
            lambda now_ms, notice, once: self._store.delete(
                session_id, key, expected_version, now_ms, notice, write=once
            ),
        )


class CreateSession:
    """Create a session or change its options (idempotent)."""

    def __init__(self, *, store: SessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def execute(self, session_id: str, options: SessionOptions) -> tuple[SessionInfo, bool]:
        """The session as it now is, and whether it was created."""
        rules.session_id(session_id)
        return await self._store.create_session(session_id, rules.options(options), self._clock.now_ms())


class DropSession(_SessionChange):
    """Remove a session and every entry; its watchers end with SESSION_DROPPED."""

    async def execute(self, session_id: str, meta: RequestMeta) -> DropResult:
        """Drop and announce."""
        rules.session_id(session_id)
        return await self._change(
            session_id,
            meta,
            ("drop",),
            lambda now_ms, notice, once: self._store.drop_session(session_id, now_ms, notice, write=once),
        )
