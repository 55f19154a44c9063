"""Consumer timing settings and settling a message (ack / nak with delay / term) without ever raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

import structlog
from nats.aio.msg import Msg

from context_service.adapters.nats.connection import translated
from context_service.adapters.nats.outcomes import retry_delay
from context_service.config import NatsSettings
from context_service.ports.errors import PortError

log = structlog.get_logger()
DEDUP_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ConsumerSettings:
    """How consumers fetch, wait and retry (seconds); the dedup TTL outlives the duplicate window."""

    fetch_batch: int = 32
    max_deliver: int = 5
    ack_wait: float = 30.0
    fetch_timeout: float = 1.0
    retry_base: float = 1.0
    retry_cap: float = 60.0
    dedup_ttl: float = DEDUP_TTL_SECONDS

    @classmethod
    def from_settings(cls, settings: NatsSettings) -> Self:
        """NATS_FETCH_BATCH, NATS_MAX_DELIVER and NATS_ACK_WAIT_SECONDS; defaults for the rest."""
        return cls(
            fetch_batch=settings.fetch_batch,
            max_deliver=settings.max_deliver,
            ack_wait=settings.ack_wait_seconds,
        )

    def delay(self, delivery: int) -> float:
        """The nak delay after the n-th failed delivery."""
        return retry_delay(delivery, base=self.retry_base, cap=self.retry_cap)


async def settle(msg: Msg, action: Literal["ack", "nak", "term"], *, delay: float = 0.0) -> None:
    """Acknowledge, nak (always with an explicit delay: without one JetStream redelivers at once) or term.

    A failure is logged only: the message then comes back after its ack wait, and is handled idempotently.
    """
    try:
        with translated(action):
            if action == "ack":
                await msg.ack()
            elif action == "nak":
                await msg.nak(delay=max(delay, 0.001))
            else:
                await msg.term()
    except PortError as exc:
        log.warning("message_settle_failed", action=action, subject=msg.subject, error=type(exc).__name__)
