"""fleet.context.session.v1 messages <-> session domain types."""

from __future__ import annotations

from context_service.application.session_watch import WatchQuery
from context_service.domain.session import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_TTL_MS,
    ChangeEvent,
    Entry,
    PutItem,
    SessionInfo,
    SessionOptions,
)
from fleet.context.session.v1 import session_pb2 as pb


def options(message: pb.SessionOptions) -> SessionOptions:
    """Unset or 0 fields take the server defaults."""
    ttl = message.default_ttl_ms if message.HasField("default_ttl_ms") else DEFAULT_TTL_MS
    notifications = message.notifications if message.HasField("notifications") else True
    return SessionOptions(
        default_ttl_ms=ttl,
        max_entries=message.max_entries or DEFAULT_MAX_ENTRIES,
        max_entry_bytes=message.max_entry_bytes or DEFAULT_MAX_ENTRY_BYTES,
        strict=message.strict,
        notifications=notifications,
    )


def session(info: SessionInfo) -> pb.Session:
    """A session as sent."""
    o = info.options
    return pb.Session(
        session_id=info.session_id,
        options=pb.SessionOptions(
            default_ttl_ms=o.default_ttl_ms,
            max_entries=o.max_entries,
            max_entry_bytes=o.max_entry_bytes,
            strict=o.strict,
            notifications=o.notifications,
        ),
        revision=info.revision,
        entry_count=info.entry_count,
        created_at_ms=info.created_at_ms,
        updated_at_ms=info.updated_at_ms,
    )


def entry(found: Entry) -> pb.Entry:
    """An entry as sent."""
    return pb.Entry(
        key=found.key,
        value_json=found.value_json,
        version=found.version,
        revision=found.revision,
        created_at_ms=found.created_at_ms,
        updated_at_ms=found.updated_at_ms,
        expires_at_ms=found.expires_at_ms,
        source=found.source,
        tags=list(found.tags),
    )


def put_item(message: pb.PutRequest | pb.PutItem) -> PutItem:
    """One write; unset optional fields stay None."""
    return PutItem(
        key=message.key,
        value_json=message.value_json,
        ttl_ms=message.ttl_ms if message.HasField("ttl_ms") else None,
        source=message.source,
        tags=tuple(message.tags),
        expected_version=message.expected_version if message.HasField("expected_version") else None,
    )


def watch_query(request: pb.WatchRequest) -> WatchQuery:
    """What a Watch asks for."""
    return WatchQuery(
        session_id=request.session_id,
        pattern=request.pattern,
        after_revision=request.after_revision,
        include_initial=request.include_initial,
        include_prev_value=request.include_prev_value,
    )


def watch_response(event: ChangeEvent) -> pb.WatchResponse:
    """One event of the stream."""
    response = pb.WatchResponse(
        type=pb.EventType.ValueType(event.type.value),
        key=event.key,
        revision=event.revision,
        prev_value_json=event.prev_value_json,
        initial=event.initial,
        at_ms=event.at_ms,
    )
    if event.entry is not None:
        response.entry.CopyFrom(entry(event.entry))
    return response
