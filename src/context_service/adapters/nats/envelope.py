"""The fleet envelope (04 §4.2) and message headers: decoding, validation and encoding in one place.

Header building and reading happen only here: `inject_headers` writes the current W3C trace context
(`traceparent`, `tracestate`) into every outbound message when its headers are built — for an event, when it
is recorded in the outbox, so a later re-send by the relay still names the span that caused it — and
`extract_context` reads it back from every consumed message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context

from context_service.domain.errors import InvalidArgument
from context_service.domain.text import check_document
from context_service.domain.timefmt import iso_from_ms, ms_from_iso
from context_service.observability.tracing import extract, inject
from context_service.ports.events import OutboundEvent

PRODUCER = "context-service"
MSG_ID_HEADER = "Nats-Msg-Id"
# JetStream does not keep a message's reply subject, so requesters name their reply inbox in this header.
REPLY_TO_HEADER = "Reply-To"
TRACEPARENT_HEADER = "traceparent"
TRACE_HEADERS = frozenset({TRACEPARENT_HEADER, "tracestate"})
REQUIRED_TEXT = ("event_type", "idempotency_key", "correlation_id", "timestamp", "producer")
MAX_KEY_LENGTH = 256


class MessageRejected(InvalidArgument):
    """A message that can never be processed (bad JSON, envelope or payload); `reason` says why."""

    @property
    def reason(self) -> str:
        """Why the message was rejected (its client-safe message)."""
        return self.message


@dataclass(frozen=True)
class Envelope:
    """A decoded, validated envelope."""

    event_type: str
    payload: Mapping[str, Any]
    idempotency_key: str
    correlation_id: str
    timestamp: str
    producer: str
    occurred_at_ms: int
    causation_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


def decode_json(data: bytes) -> dict[str, Any]:
    """The message body as a JSON object, or MessageRejected."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageRejected(f"body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise MessageRejected("body must be a JSON object (the envelope)")
    try:
        check_document(document, "")  # every field, the payload's too, against the service's text rule
    except InvalidArgument as exc:
        raise MessageRejected(exc.message, field=exc.field) from None
    return document


def decode_envelope(data: bytes) -> Envelope:
    """Parse and validate the envelope; every violation is a MessageRejected naming the field."""
    document = decode_json(data)
    for name in REQUIRED_TEXT:
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MessageRejected(f"envelope field '{name}' must be a non-empty string")
    if len(document["idempotency_key"]) > MAX_KEY_LENGTH:
        raise MessageRejected(f"envelope field 'idempotency_key' exceeds {MAX_KEY_LENGTH} characters")
    payload, metadata, causation = _object_parts(document)
    occurred = ms_from_iso(document["timestamp"])
    if occurred is None:
        raise MessageRejected("envelope field 'timestamp' must be ISO-8601 UTC")
    return Envelope(
        event_type=document["event_type"].strip(),
        payload=payload,
        idempotency_key=document["idempotency_key"].strip(),
        correlation_id=document["correlation_id"].strip(),
        timestamp=document["timestamp"],
        producer=document["producer"].strip(),
        occurred_at_ms=occurred,
        causation_id=causation.strip(),
        metadata=metadata,
    )


def _object_parts(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(payload, metadata, causation_id), each checked for its type (metadata and causation may be absent)."""
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise MessageRejected("envelope field 'payload' must be a JSON object")
    metadata = document.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise MessageRejected("envelope field 'metadata' must be a JSON object")
    causation = document.get("causation_id")
    causation = "" if causation is None else causation
    if not isinstance(causation, str):
        raise MessageRejected("envelope field 'causation_id' must be a string")
    return payload, metadata, causation


def peek(data: bytes, name: str) -> str:
    """Best effort: a top-level envelope string, else a payload string, from a body that may be invalid."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(document, dict):
        return ""
    payload = document.get("payload")
    value = document.get(name, payload.get(name) if isinstance(payload, dict) else None)
    return value.strip()[:MAX_KEY_LENGTH] if isinstance(value, str) else ""


def encode_envelope(event: OutboundEvent, *, now_ms: int) -> bytes:
    """The outbound envelope of an event, as JSON bytes."""
    document = {
        "event_type": event.event_type,
        "payload": dict(event.payload),
        "idempotency_key": event.idempotency_key,
        "correlation_id": event.correlation_id,
        "timestamp": iso_from_ms(now_ms),
        "producer": PRODUCER,
        "causation_id": event.causation_id,
        "metadata": dict(event.metadata),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def outbound_headers(msg_id: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers of a published message: the JetStream de-duplication id, extras, and trace context."""
    headers = {**(extra or {}), MSG_ID_HEADER: msg_id}
    inject_headers(headers)
    return headers


def inject_headers(headers: dict[str, str]) -> None:
    """Put the current span's trace context on the headers; outside any span, leave them as they are."""
    current: dict[str, str] = {}
    inject(current)
    if not current:
        return
    # Copied headers (a dead-letter copy keeps the original's) may spell them differently: keep one of each.
    for name in [name for name in headers if name.lower() in TRACE_HEADERS]:
        del headers[name]
    headers.update(current)


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """The trace context an inbound message's `traceparent` names (an empty context when it has none)."""
    return extract(headers)


def reply_address(headers: Mapping[str, str] | None) -> str:
    """Where a requester waits for its response (the Reply-To header), or ""."""
    return (headers or {}).get(REPLY_TO_HEADER, "").strip()
