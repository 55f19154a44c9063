"""Plain values of the session client: entries and events with decoded JSON, and the CAS error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fleet.context.session.v1 import session_pb2 as pb


class VersionMismatch(Exception):
    """A compare-and-set lost: the entry is no longer at the version given."""


@dataclass(frozen=True)
class SessionEntry:
    """An entry with its decoded JSON value."""

    key: str
    value: Any
    version: int
    revision: int
    created_at_ms: int
    updated_at_ms: int
    expires_at_ms: int
    source: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class SessionEvent:
    """A change: type is SET, DELETE, EXPIRE, EVICT or SESSION_DROPPED; `entry` as written or removed."""

    type: str
    key: str
    revision: int
    entry: SessionEntry | None
    previous: Any = None
    initial: bool = False


def entry_of(message: pb.Entry) -> SessionEntry:
    """An entry message as a value."""
    return SessionEntry(
        message.key,
        json.loads(message.value_json),
        message.version,
        message.revision,
        message.created_at_ms,
        message.updated_at_ms,
        message.expires_at_ms,
        message.source,
        tuple(message.tags),
    )


def event_of(message: pb.WatchResponse) -> SessionEvent:
    """A watch response as a value."""
    entry = entry_of(message.entry) if message.HasField("entry") else None
    previous = json.loads(message.prev_value_json) if message.prev_value_json else None
    kind = pb.EventType.Name(message.type).removeprefix("EVENT_TYPE_")
    return SessionEvent(kind, message.key, message.revision, entry, previous, message.initial)
