"""Dead-letter copies: the original body and headers on `context.dlq.<subject>`, with why and where from.

JetStream has no dead-letter queue of its own; these copies are published (through the outbox) before the
original is terminated.
"""

from __future__ import annotations

from nats.aio.msg import Msg

from context_service.adapters.nats.envelope import outbound_headers
from context_service.adapters.nats.publisher import OutboundMessage

DLQ_PREFIX = "context.dlq."
MAX_REASON_LENGTH = 512


def dead_letter(msg: Msg, reason: str, deliveries: int) -> OutboundMessage:
    """The copy of `msg` for its dead-letter subject (de-duplicated by its stream position)."""
    meta = msg.metadata
    extra = {
        **(msg.headers or {}),
        "Dlq-Reason": header_text(reason),
        "Dlq-Subject": msg.subject,
        "Dlq-Stream": meta.stream,
        "Dlq-Sequence": str(meta.sequence.stream),
        "Dlq-Deliveries": str(deliveries),
    }
    headers = outbound_headers(f"dlq:{meta.stream}:{meta.sequence.stream}", extra)
    return OutboundMessage(f"{DLQ_PREFIX}{msg.subject}", msg.data, headers)


def header_text(value: str) -> str:
    """A header value: one line of ASCII, bounded."""
    one_line = " ".join(value.split())
    return one_line.encode("ascii", "backslashreplace").decode("ascii")[:MAX_REASON_LENGTH]
