"""The pure parts of the NATS edge: envelope round trip and rejections, the delivery-policy table, backoff."""

from __future__ import annotations

import json

import pytest

from context_service.adapters.nats.envelope import (
    MessageRejected,
    decode_envelope,
    encode_envelope,
    outbound_headers,
)
from context_service.adapters.nats.outcomes import Action, retry_delay, verdict
from context_service.domain.errors import Aborted, InvalidArgument, NotFound, NotYetKnown
from context_service.ports.errors import StoreTimeout, StoreUnavailable
from context_service.ports.events import OutboundEvent

EVENT = OutboundEvent(
    subject="context.events.updated",
    event_type="context.updated",
    payload={"story_id": "S-1", "version": 3},
    idempotency_key="context.updated:S-1:v3",
    correlation_id="corr-1",
    causation_id="req-1",
)
VALID = {
    "event_type": "planning.story.created",
    "payload": {"story_id": "S-1"},
    "idempotency_key": "k-1",
    "correlation_id": "c-1",
    "timestamp": "2026-11-21T10:00:00Z",
    "producer": "planning-service",
}


def test_an_encoded_envelope_decodes_to_the_same_event() -> None:
    # Act
    decoded = decode_envelope(encode_envelope(EVENT, now_ms=1_793_534_400_000))

    # Assert
    assert (decoded.event_type, dict(decoded.payload), decoded.idempotency_key) == (
        "context.updated",
        {"story_id": "S-1", "version": 3},
        "context.updated:S-1:v3",
    )
    assert (decoded.correlation_id, decoded.causation_id, decoded.producer) == (
        "corr-1",
        "req-1",
        "context-service",
    )
    assert decoded.occurred_at_ms == 1_793_534_400_000


def test_outbound_headers_carry_the_idempotency_key_as_the_msg_id() -> None:
    # Act
    headers = outbound_headers(EVENT.idempotency_key)

    # Assert
    assert headers == {"Nats-Msg-Id": "context.updated:S-1:v3"}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({**VALID, "producer": " "}, "envelope field 'producer' must be a non-empty string"),
        ({**VALID, "payload": []}, "envelope field 'payload' must be a JSON object"),
        ({**VALID, "metadata": "x"}, "envelope field 'metadata' must be a JSON object"),
        ({**VALID, "timestamp": "yesterday"}, "envelope field 'timestamp' must be ISO-8601 UTC"),
        ([VALID], "body must be a JSON object (the envelope)"),
    ],
)
def test_an_invalid_envelope_is_rejected_naming_the_field(document: object, reason: str) -> None:
    # Act
    with pytest.raises(MessageRejected) as rejected:
        decode_envelope(json.dumps(document).encode())

    # Assert
    assert rejected.value.reason == reason


@pytest.mark.parametrize(
    ("error", "action", "code"),
    [
        (MessageRejected("bad"), Action.TERM, "INVALID_ARGUMENT"),
        (InvalidArgument("bad"), Action.TERM, "INVALID_ARGUMENT"),
        (NotFound("story", "S-1"), Action.TERM, "NOT_FOUND"),
        (Aborted("other content"), Action.TERM, "ABORTED"),
        (NotYetKnown("story", "S-1"), Action.RETRY, "NOT_FOUND"),
        (StoreUnavailable("down"), Action.RETRY, "UNAVAILABLE"),
        (StoreTimeout("slow"), Action.RETRY, "DEADLINE_EXCEEDED"),
        (RuntimeError("bug"), Action.RETRY, "INTERNAL"),
    ],
)
def test_each_failure_has_one_delivery_verdict(error: Exception, action: Action, code: str) -> None:
    # Act
    found = verdict(error)

    # Assert
    assert (found.action, found.code) == (action, code)


def test_store_failures_never_leak_their_text_into_the_reason() -> None:
    # Act
    found = verdict(StoreUnavailable("redis://user:secret@host refused"))

    # Assert
    assert found.reason == "a backing store is unavailable; retry later"


def test_the_retry_delay_doubles_per_delivery_up_to_its_cap() -> None:
    # Act
    delays = [retry_delay(n, base=0.5, cap=3.0) for n in range(1, 6)]

    # Assert
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
