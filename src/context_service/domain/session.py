"""Shared session context (06 §6.1): sessions, entries, change events and their defaults."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

DEFAULT_TTL_MS = 3_600_000
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_ENTRY_BYTES = 102_400
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1_000


@dataclass(frozen=True)
class SessionOptions:
    """Options of a session; `default_ttl_ms` 0 = entries never expire."""

    default_ttl_ms: int = DEFAULT_TTL_MS
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    strict: bool = False
    notifications: bool = True


@dataclass(frozen=True)
class SessionInfo:
    """A session: its options and counters."""

    session_id: str
    options: SessionOptions
    revision: int
    entry_count: int
    created_at_ms: int
    updated_at_ms: int


@dataclass(frozen=True)
class Entry:
    """One entry of a session; `expires_at_ms` 0 = never expires."""

    key: str
    value_json: str
    version: int
    revision: int
    created_at_ms: int
    updated_at_ms: int
    expires_at_ms: int
    source: str = ""
    tags: tuple[str, ...] = ()

    def live_at(self, now_ms: int) -> bool:
        """Whether the entry has not expired at `now_ms`."""
        return self.expires_at_ms == 0 or self.expires_at_ms > now_ms


class EventType(enum.Enum):
    """What happened to a key (numbers as on the wire)."""

    SET = 1
    DELETE = 2
    EXPIRE = 3
    EVICT = 4
    PROGRESS = 5
    SESSION_DROPPED = 6


@dataclass(frozen=True)
class ChangeEvent:
    """One change of a session, as logged: the entry as written (SET) or as removed."""

    type: EventType
    key: str
    revision: int
    at_ms: int
    entry: Entry | None = None
    prev_value_json: str = ""
    initial: bool = False


@dataclass(frozen=True)
class PutItem:
    """One write: ttl_ms None = the session default, 0 = never; expected_version None = unconditional."""

    key: str
    value_json: str
    ttl_ms: int | None = None
    source: str = ""
    tags: tuple[str, ...] = ()
    expected_version: int | None = None


@dataclass(frozen=True)
class PutResult:
    """The written entries (request order), the revision of the write, the keys evicted for room."""

    entries: tuple[Entry, ...]
    revision: int
    evicted_keys: tuple[str, ...] = ()
    events: tuple[ChangeEvent, ...] = ()
    notifications: bool = True
    notice_key: str = ""  # the outbox record the store wrote with the change ("" when none)


@dataclass(frozen=True)
class DeleteResult:
    """Whether a live entry was removed, and the session revision after the call."""

    deleted: bool
    revision: int
    events: tuple[ChangeEvent, ...] = ()
    notifications: bool = True
    notice_key: str = ""


@dataclass(frozen=True)
class DropResult:
    """Whether the session existed, and how many live entries went with it."""

    dropped: bool
    entries_removed: int
    events: tuple[ChangeEvent, ...] = ()
    notifications: bool = True
    notice_key: str = ""


@dataclass(frozen=True)
class Snapshot:
    """Live entries at one revision (Find pages and Watch's initial snapshot)."""

    entries: tuple[Entry, ...]
    revision: int
    more: bool = False


@dataclass(frozen=True)
class SweepResult:
    """What one sweep of a session removed (EXPIRE events, or SESSION_DROPPED when idle)."""

    session_id: str
    events: tuple[ChangeEvent, ...] = field(default_factory=tuple)
    notifications: bool = True
    notice_key: str = ""
