"""Dead-letter copies: the original body and headers on `context.dlq.<subject>`, with why and where from.

JetStream has no dead-letter queue of its own; these copies are published (through the outbox) before the
original is terminated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nats.aio.msg import Msg

from context_service.adapters.nats.envelope import outbound_headers
from context_service.adapters.nats.publisher import OutboundMessage

DLQ_PREFIX = "context.dlq."
MAX_REASON_LENGTH = 512


def dead_letter(msg: Msg, reason: str, deliveries: int) -> OutboundMessage:
    """The copy of a delivered `msg` for its dead-letter subject (de-duplicated by its stream position)."""
    meta = msg.metadata
    stored = StoredMessage(msg.subject, msg.data, msg.headers or {}, meta.stream, meta.sequence.stream)
    return dead_letter_stored(stored, reason, deliveries)


@dataclass(frozen=True)
class StoredMessage:
    """A message as the stream holds it: subject, body, headers and its position."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    stream: str
    sequence: int


def dead_letter_stored(stored: StoredMessage, reason: str, deliveries: int) -> OutboundMessage:
    """The dead-letter copy of a stored message; its Nats-Msg-Id is its stream position, so it lands once."""
    extra = {
        **stored.headers,
        "Dlq-Reason": header_text(reason),
        "Dlq-Subject": stored.subject,
        "Dlq-Stream": stored.stream,
        "Dlq-Sequence": str(stored.sequence),
        "Dlq-Deliveries": str(deliveries),
    }
    headers = outbound_headers(f"dlq:{stored.stream}:{stored.sequence}", extra)
    return OutboundMessage(f"{DLQ_PREFIX}{stored.subject}", stored.data, headers)


def header_text(value: str) -> str:
    """A header value: one line of ASCII, bounded."""
    one_line = " ".join(value.split())
    return one_line.encode("ascii", "backslashreplace").decode("ascii")[:MAX_REASON_LENGTH]
