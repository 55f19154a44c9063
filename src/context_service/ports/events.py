"""Outbound event port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundEvent:
    """An event for the fleet, wrapped in the standard envelope by the publisher."""

    subject: str
    event_type: str
    payload: Mapping[str, Any]
    idempotency_key: str
    correlation_id: str
    causation_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordSlot:
    """Where a store may write an outbox record together with its own change: the key (as the outbox names
    it), how long the record lives, and the trace context of the work that reserved it (W3C headers, kept in
    the record so the messages a relay sends later continue that trace)."""

    key: str
    ttl_ms: int
    trace: Mapping[str, str] = field(default_factory=dict)


# Turns an outbox record a store wrote (the part under its kind) into the events it stands for.
RecordReader = Callable[[Mapping[str, Any]], Awaitable[Sequence[OutboundEvent]]]


class EventPublisher(Protocol):
    """Publishes events; must not fail the caller's committed work (an outbox retries later)."""

    async def publish(self, event: OutboundEvent) -> None:
        """Hand the event over for delivery."""
        ...

    def reserve_record(self, scope: str) -> RecordSlot | None:
        """A fresh outbox key in `scope`'s slot for a store to write a record in (None: no shared outbox)."""
        ...

    async def publish_recorded(self, key: str, events: Sequence[OutboundEvent]) -> None:
        """Deliver events whose outbox record (`key`) a store already wrote with the change itself."""
        ...

    def read_records(self, kind: str, reader: RecordReader) -> None:
        """Let the relay re-send records of `kind` (written by a store) as the events `reader` gives."""
        ...
