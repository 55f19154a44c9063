"""In-memory event publisher: keeps what was published (zero-dependency mode and tests)."""

from __future__ import annotations

from collections.abc import Sequence

from context_service.ports.events import OutboundEvent, RecordReader, RecordSlot


class _NoOutbox:
    """A publisher with no outbox a store could write records in, so none to relay."""

    def reserve_record(self, scope: str) -> RecordSlot | None:
        """None: no outbox a store could write in."""
        return None

    def read_records(self, kind: str, reader: RecordReader) -> None:
        """Nothing to relay."""


class InMemoryEventPublisher(_NoOutbox):
    """Records events in order; a re-publish of the same idempotency key is dropped, as JetStream would."""

    def __init__(self) -> None:
        self.events: list[OutboundEvent] = []
        self._keys: set[str] = set()

    async def publish(self, event: OutboundEvent) -> None:
        """Record the event unless its idempotency key was already published."""
        if event.idempotency_key in self._keys:
            return
        self._keys.add(event.idempotency_key)
        self.events.append(event)

    async def publish_recorded(self, key: str, events: Sequence[OutboundEvent]) -> None:
        """Record the events (never called: no store writes records for this publisher)."""
        for event in events:
            await self.publish(event)


class DiscardingEventPublisher(_NoOutbox):
    """For a gRPC-only service (ENABLE_NATS=false): events have nowhere to go and are dropped."""

    async def publish(self, event: OutboundEvent) -> None:
        """Drop the event."""

    async def publish_recorded(self, key: str, events: Sequence[OutboundEvent]) -> None:
        """Drop the events."""
