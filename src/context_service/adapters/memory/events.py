"""In-memory event publisher: keeps what was published (zero-dependency mode and tests)."""

from __future__ import annotations

from context_service.ports.events import OutboundEvent


class InMemoryEventPublisher:
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


class DiscardingEventPublisher:
    """For a gRPC-only service (ENABLE_NATS=false): events have nowhere to go and are dropped."""

    async def publish(self, event: OutboundEvent) -> None:
        """Drop the event."""
