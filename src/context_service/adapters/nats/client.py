"""Client side of the fleet subjects: publish an enveloped event, or send a request and await its response.

JetStream keeps no reply subject, so a request names its reply inbox in the Reply-To header; a plain
`nc.request` on a subject a stream captures would only receive the stream's publish acknowledgement.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.js.api import PubAck

from context_service.adapters.nats.envelope import REPLY_TO_HEADER, encode_envelope, outbound_headers
from context_service.ports.events import OutboundEvent


def envelope_event(
    subject: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: str,
    correlation_id: str,
    event_type: str = "",
) -> OutboundEvent:
    """An event for `subject` (event type defaults to the subject)."""
    return OutboundEvent(
        subject=subject,
        event_type=event_type or subject,
        payload=payload,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
    )


async def publish_event(
    client: Client, event: OutboundEvent, *, now_ms: int, msg_id: str = "", ack_timeout: float = 5.0
) -> PubAck:
    """Publish the event's envelope into its stream (Nats-Msg-Id: `msg_id`, else the idempotency key)."""
    headers = outbound_headers(msg_id or event.idempotency_key)
    data = encode_envelope(event, now_ms=now_ms)
    return await client.jetstream().publish(event.subject, data, timeout=ack_timeout, headers=headers)


async def request(
    client: Client, event: OutboundEvent, *, now_ms: int, response_timeout: float = 10.0
) -> dict[str, Any]:
    """Publish a request naming a fresh reply inbox, and return the response envelope sent there.

    Each attempt gets its own Nats-Msg-Id, so a retry under the same idempotency key is not dropped by
    JetStream's duplicate window: it reaches the service, which answers with the recorded response.
    """
    inbox = client.new_inbox()
    subscription = await client.subscribe(inbox, max_msgs=1)
    try:
        attempt = inbox.rsplit(".", 1)[-1]
        headers = outbound_headers(f"{event.idempotency_key}:{attempt}", {REPLY_TO_HEADER: inbox})
        data = encode_envelope(event, now_ms=now_ms)
        await client.jetstream().publish(event.subject, data, headers=headers)
        reply = await subscription.next_msg(timeout=response_timeout)
    finally:
        with contextlib.suppress(nats.errors.BadSubscriptionError):
            await subscription.unsubscribe()
    document = json.loads(reply.data)
    if not isinstance(document, dict):
        raise ValueError("the response is not a JSON object")
    return document
