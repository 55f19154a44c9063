"""The session context store port: keyed JSON state per session with revisions and a change log.

Every write is one atomic step: expire the session's due entries, check versions, sizes and capacity, evict,
write, and append each change to the session's change log (and, given a notice, write the outbox record owing
the change's notifications; given a write id, remember the result). Writes raise EntryConflict,
EntryTooLarge, SessionFull or WriteIdReused with nothing written; `changes` raises ChangesTrimmed when asked
for revisions already trimmed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from context_service.domain.session import (
    ChangeEvent,
    DeleteResult,
    DropResult,
    Entry,
    PutItem,
    PutResult,
    SessionInfo,
    SessionOptions,
    Snapshot,
    SweepResult,
)
from context_service.ports.events import RecordSlot

NOTICE_KIND = "session_changes"


@dataclass(frozen=True)
class ChangeNotice:
    """The outbox record a session change writes with itself, saying its notifications are owed.

    Stored in `slot` as `{"session_changes": {"session_id", "correlation_id", "causation_id", "trace", "from",
    "to"}, "recorded_ms"}`: the ids the notifications carry, the trace context of the call (when traced) and
    the revisions written (the change log holds them).
    A store that cannot write it in the same step as the change writes none.
    """

    slot: RecordSlot
    session_id: str
    correlation_id: str
    causation_id: str = ""

    def head(self) -> str:
        """The record's JSON up to the first revision written, which the store appends with the rest."""
        ids: dict[str, object] = {
            "session_id": self.session_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }
        if self.slot.trace:
            ids["trace"] = dict(self.slot.trace)
        return '{"' + NOTICE_KIND + '":' + json.dumps(ids, ensure_ascii=False)[:-1] + ',"from":'


@dataclass(frozen=True)
class WriteId:
    """Makes a change of a session happen once: a change naming the `key` of one already made in the same
    session within `ttl_ms` changes nothing and gets that change's result (its events without their
    values), or WriteIdReused when its `fingerprint` differs. The key is short and safe to put in a store
    key (hex digits)."""

    key: str
    fingerprint: str
    ttl_ms: int


# The notice for one session's changes (the sweeper's, made per session swept).
NoticeFor = Callable[[str], ChangeNotice | None]


class SessionStore(Protocol):
    """Sessions, their entries and their change logs."""

    async def create_session(
        self, session_id: str, options: SessionOptions, now_ms: int
    ) -> tuple[SessionInfo, bool]:
        """Create the session or set its options; True when it was created."""
        ...

    async def get_session(self, session_id: str, now_ms: int) -> SessionInfo | None:
        """The session with its live entry count, or None."""
        ...

    async def list_sessions(self, prefix: str, after: str, limit: int, now_ms: int) -> list[SessionInfo]:
        """Up to `limit` sessions whose id starts with `prefix` and sorts after `after`, by id."""
        ...

    async def drop_session(
        self,
        session_id: str,
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> DropResult:
        """Remove the session and its entries; watchers read SESSION_DROPPED from the log."""
        ...

    async def put(
        self,
        session_id: str,
        items: Sequence[PutItem],
        now_ms: int,
        notice: ChangeNotice | None = None,
        *,
        write: WriteId | None = None,
    ) -> PutResult:
        """Write the items at one revision (creating the session with default options), all or nothing."""
        ...

    async def get(self, session_id: str, keys: Sequence[str], now_ms: int) -> list[Entry]:
        """The live entries among `keys`, in the order asked."""
        ...

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
        ...

    async def find(
        self, session_id: str, *, pattern: str, tag: str, after_key: str, limit: int, now_ms: int
    ) -> Snapshot:
        """Live entries matching the glob and tag with keys after `after_key`, by key, at most `limit`."""
        ...

    async def latest_revision(self, session_id: str) -> int:
        """The revision of the session's latest logged change (also just after a drop), 0 if none."""
        ...

    async def changes(
        self, session_id: str, after_revision: int, limit: int, wait_seconds: float
    ) -> list[ChangeEvent]:
        """Logged changes with revisions after `after_revision` (oldest first), waiting up to
        `wait_seconds` for one when there are none yet. Raises ChangesTrimmed on a gap."""
        ...

    async def sweep(self, now_ms: int, limit: int, notice_for: NoticeFor | None = None) -> list[SweepResult]:
        """Expire due entries and drop idle sessions (no change for the store's idle time), in at most
        `limit` sessions."""
        ...
