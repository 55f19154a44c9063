"""JetStream's MAX_DELIVERIES advisory: a message whose every delivery went unanswered is dead-lettered.

A consumer dead-letters a failing message itself on its last delivery; a message whose deliveries all timed
out (the process died or hung each time) never reaches that code. JetStream then announces the exhausted
message on `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; this listener fetches it by its
stream sequence and copies it to `context.dlq.<subject>` with the reason. Every replica hears the advisory;
the copy's Nats-Msg-Id (`dlq:<stream>:<sequence>`) makes it land once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection
from types import TracebackType
from typing import Any, Self

import structlog
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from context_service.adapters.nats.connection import NatsConnection, translated
from context_service.adapters.nats.deadletter import StoredMessage, dead_letter_stored
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.ports.errors import PortError

log = structlog.get_logger()
MAX_DELIVERIES_SUBJECT = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.*.*"
EXHAUSTED_REASON = "every delivery went unanswered until max_deliver (the consumer timed out or stopped)"


class ExhaustedDeliveries:
    """Async context manager: listens for MAX_DELIVERIES advisories of our durables while entered."""

    def __init__(
        self, *, connection: NatsConnection, publisher: OutboxPublisher, durables: Collection[str]
    ) -> None:
        self._connection = connection
        self._publisher = publisher
        self._durables = frozenset(durables)
        self._subscription: Subscription | None = None

    async def __aenter__(self) -> Self:
        """Subscribe (core NATS: advisories are not stored in a stream)."""
        with translated("subscribe"):
            self._subscription = await self._connection.client.subscribe(
                MAX_DELIVERIES_SUBJECT, cb=self._on_advisory
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop listening."""
        if self._subscription is not None:
            with contextlib.suppress(PortError), translated("unsubscribe"):  # a closed connection dropped it
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_advisory(self, msg: Msg) -> None:
        """Dead-letter the exhausted message; a failure is logged (the message stays in its stream)."""
        advisory = _parse(msg.data)
        if advisory is None or advisory["consumer"] not in self._durables:
            return
        stream, sequence = str(advisory["stream"]), int(advisory["stream_seq"])
        try:
            with translated("get_msg"):
                raw = await self._connection.jetstream.get_msg(stream, sequence)
            stored = StoredMessage(raw.subject or "", raw.data or b"", raw.headers or {}, stream, sequence)
            deliveries = int(advisory.get("deliveries") or 0)
            await self._publisher.send(dead_letter_stored(stored, EXHAUSTED_REASON, deliveries))
        except PortError as exc:
            log.warning("exhausted_message_not_dead_lettered", stream=stream, seq=sequence, error=str(exc))
            return
        log.warning(
            "message_dead_lettered",
            subject=stored.subject,
            consumer=advisory["consumer"],
            seq=sequence,
            reason="max_deliveries",
        )


def _parse(data: bytes) -> dict[str, Any] | None:
    """The advisory's fields, or None when it is not one we can act on."""
    try:
        document = json.loads(data)
    except ValueError:
        return None
    if not isinstance(document, dict) or not {"stream", "consumer", "stream_seq"} <= document.keys():
        return None
    return document
