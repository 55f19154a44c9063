"""Outbound event port."""

from __future__ import annotations

from collections.abc import Mapping
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


class EventPublisher(Protocol):
    """Publishes events; must not fail the caller's committed work (an outbox retries later)."""

    async def publish(self, event: OutboundEvent) -> None:
        """Hand the event over for delivery."""
        ...
