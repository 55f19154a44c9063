"""`context-service publish <subject> --json …`: wrap a payload in the fleet envelope and publish it."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import nats.errors

from context_service.adapters.nats.client import envelope_event, publish_event, request
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.system import SystemClock
from context_service.config import NatsSettings
from context_service.ports.errors import PortError
from context_service.ports.events import OutboundEvent

REQUEST_SUFFIX = ".request"


def run_publish(
    subject: str,
    payload_json: str,
    *,
    url: str,
    event_type: str = "",
    idempotency_key: str = "",
    correlation_id: str = "",
    timeout: float = 10.0,
    creds_file: Path | None = None,
    tls_ca_file: Path | None = None,
) -> int:
    """Publish; print JetStream's acknowledgement, or for a *.request subject the response. Exit code."""
    payload = _payload(payload_json)
    if isinstance(payload, str):
        print(f"bad --json: {payload}", file=sys.stderr)
        return 2
    event = envelope_event(
        subject,
        payload,
        idempotency_key=idempotency_key or uuid.uuid4().hex,
        correlation_id=correlation_id or uuid.uuid4().hex,
        event_type=event_type,
    )
    settings = NatsSettings(NATS_URL=url, NATS_CREDS=creds_file, NATS_TLS_CA_FILE=tls_ca_file)
    try:
        printed = asyncio.run(_send(event, settings=settings, wait_seconds=timeout))
    except (PortError, nats.errors.Error, OSError, TimeoutError) as exc:
        print(f"publish to {url} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(printed, indent=2, ensure_ascii=False))
    return 0


def _payload(payload_json: str) -> dict[str, object] | str:
    """The payload object, or why it is not one."""
    try:
        payload = json.loads(payload_json)
    except ValueError as exc:
        return str(exc)
    return payload if isinstance(payload, dict) else "the payload must be a JSON object"


async def _send(event: OutboundEvent, *, settings: NatsSettings, wait_seconds: float) -> dict[str, object]:
    async with NatsConnection(settings=settings, startup_timeout=wait_seconds) as connection:
        now_ms = SystemClock().now_ms()
        if event.subject.endswith(REQUEST_SUFFIX):
            return await request(connection.client, event, now_ms=now_ms, response_timeout=wait_seconds)
        ack = await publish_event(connection.client, event, now_ms=now_ms, ack_timeout=wait_seconds)
        return {"stream": ack.stream, "seq": ack.seq, "duplicate": bool(ack.duplicate)}
