"""EventPublisher with an outbox: record in the key-value store, send at once, re-send from a relay.

Every message carries its idempotency key as `Nats-Msg-Id`, so JetStream drops the copies a re-send makes.
Publishing never raises to the caller: the committed work that announced the event must not fail. A hand-over
returns once the message is recorded: from then on the relay would re-send it whatever happens to this
process, so the caller (an RPC's answer, a consumed message's ack) need not wait for JetStream's
acknowledgement, and the send runs beside it (inline when the outbox cannot record it, or when
`MAX_SENDS_IN_FLIGHT` sends already wait). Sends start in the order the messages were recorded, on one
connection. The records acknowledged within `FORGET_AFTER_SECONDS` are deleted in one command. Each
hand-over is a PRODUCER span; the message's headers (with its `traceparent`) are built inside it and kept in
the outbox record, so a re-send by the relay continues the trace of the work that recorded it.

A store may also write a record itself, atomically with its own change (`reserve_record` gives the key):
such a record names what happened rather than holding the messages, and the relay asks the reader registered
for its kind (`read_records`) for the events. The slot carries the trace context of the work that reserved it,
which the store keeps in the record (under `trace`): the relay's PRODUCER spans for those events are its
children, so a re-sent notification continues the trace of the call that made the change.

A record this version cannot read (a kind a later version added, during a rolling upgrade) is left for
`UNREADABLE_KEPT_SECONDS` to a replica that can, and the relay passes on to the records after it; one older
than that is deleted with an error line (it would otherwise wait out the outbox's expiry).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import structlog
from opentelemetry.context import Context

from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.envelope import MSG_ID_HEADER, encode_envelope, outbound_headers
from context_service.observability.tracing import extract, inject, publish_span
from context_service.ports.errors import PortError
from context_service.ports.events import OutboundEvent, RecordReader, RecordSlot
from context_service.ports.kv import JsonObject, KeyValueStore, story_scope
from context_service.ports.system import Clock

log = structlog.get_logger()
OUTBOX_PREFIX = "ctx:outbox:"
OUTBOX_TTL_SECONDS = 7 * 24 * 3600
FLUSH_LIMIT = 500
# Recorded messages whose send runs beside the caller; past this many, the next caller sends inline
# (back-pressure while JetStream is slow).
MAX_SENDS_IN_FLIGHT = 256
STAMPS_PER_MS = 1000
# How long an acknowledged record waits to be forgotten with the others acknowledged meanwhile (one DEL for
# them all); the relay leaves it alone until then.
FORGET_AFTER_SECONDS = 0.05
# Longer than any rollout: a record only a later version reads waits this long for a replica of it.
UNREADABLE_KEPT_SECONDS = 3600


@dataclass(frozen=True)
class OutboundMessage:
    """A message ready for JetStream: subject, body and headers (with its Nats-Msg-Id)."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    story_id: str = ""  # keeps the outbox record beside the story's other records

    @property
    def msg_id(self) -> str:
        """The JetStream de-duplication id."""
        return self.headers.get(MSG_ID_HEADER, "")

    def record(self, recorded_ms: int) -> dict[str, Any]:
        """The outbox record (JSON-compatible)."""
        return {
            "subject": self.subject,
            "data": base64.b64encode(self.data).decode("ascii"),
            "headers": dict(self.headers),
            "recorded_ms": recorded_ms,
        }

    @classmethod
    def from_record(cls, record: JsonObject) -> OutboundMessage:
        """Rebuild a message from its outbox record (ValueError when unreadable)."""
        headers = record.get("headers")
        if not isinstance(headers, dict) or not isinstance(record.get("subject"), str):
            raise ValueError("outbox record has no subject or headers")
        data = base64.b64decode(str(record.get("data", "")), validate=True)
        return cls(str(record["subject"]), data, {str(k): str(v) for k, v in headers.items()})


def outbox_key(stamp: int, msg_id: str, story_id: str = "") -> str:
    """Key of an outbox record, ordered by its stamp within its story's scope (the digest keeps arbitrary
    ids out of key patterns; the scope puts it in the slot of the story's idempotency records).

    The stamp is the recording time in milliseconds times `STAMPS_PER_MS`, plus the record's place among
    those one publisher made in that millisecond, so records relay in the order they were made. Its first
    13 digits are the millisecond, which keeps records written as `{ms:013d}` in the same order.
    """
    digest = hashlib.sha256(msg_id.encode("utf-8")).hexdigest()[:16]
    return _scoped_key(story_scope(story_id) if story_id else "", stamp, digest)


def _scoped_key(scope: str, stamp: int, digest: str) -> str:
    return f"{OUTBOX_PREFIX}{scope}{':' if scope else ''}{stamp:016d}:{digest}"


def _recorded_order(key: str) -> list[str]:
    """An outbox key's time and digest, its last two segments (after any story scope)."""
    return key.rsplit(":", 2)[-2:]


def _recorded_ms(key: str) -> int:
    """When an outbox record was made: the millisecond, its key's stamp's first 13 digits (0 if none)."""
    stamp = _recorded_order(key)[0][:13]
    return int(stamp) if stamp.isdigit() else 0


class OutboxPublisher:
    """Records, sends when connected, and forgets after JetStream's acknowledgement."""

    def __init__(
        self,
        *,
        kv: KeyValueStore,
        clock: Clock,
        ttl_seconds: float = OUTBOX_TTL_SECONDS,
        send_timeout: float = 2.0,
    ) -> None:
        self._kv = kv
        self._clock = clock
        self._ttl = ttl_seconds
        self._send_timeout = send_timeout
        self._connection: NatsConnection | None = None
        self._readers: dict[str, RecordReader] = {}
        self._sending: set[str] = set()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._acknowledged: list[str] = []
        self._forgetting: asyncio.Task[None] | None = None
        self._last_stamp = 0
        self._unreadable: set[str] = set()  # records left to a replica that reads them (each logged once)

    def attach(self, connection: NatsConnection | None) -> None:
        """Send through this connection from now on (None: only record, the relay sends later)."""
        self._connection = connection

    def message_of(self, event: OutboundEvent) -> OutboundMessage:
        """The envelope of an event as a message."""
        data = encode_envelope(event, now_ms=self._clock.now_ms())
        story_id = str(event.payload.get("story_id") or "")
        return OutboundMessage(event.subject, data, outbound_headers(event.idempotency_key), story_id)

    async def publish(self, event: OutboundEvent) -> None:
        """Hand the event over; delivery is retried from the outbox until JetStream acknowledges it."""
        with publish_span(event.subject, event.idempotency_key):
            await self.send(self.message_of(event))

    async def respond(self, event: OutboundEvent, reply_to: str = "") -> None:
        """Publish a response on its subject, and to the requester's reply inbox when it named one."""
        with publish_span(event.subject, event.idempotency_key):
            message = self.message_of(event)
            if reply_to and self._connection is not None:
                try:  # the waiting requester first; a lost reply is not retried (the requester times out)
                    await self._connection.publish_core(reply_to, message.data, message.headers)
                except PortError as exc:
                    log.warning("reply_failed", subject=event.subject, error=type(exc).__name__)
            await self.send(message)

    async def send(self, message: OutboundMessage) -> None:
        """Record the message and return; it is sent beside the caller and forgotten once acknowledged.

        Never raises. A message the outbox could not record is sent before returning (nothing else would
        send it); so is every message while `MAX_SENDS_IN_FLIGHT` sends wait, or while no connection is
        attached (the send then only finds that out, and the relay sends the record later).
        """
        key = outbox_key(self._next_stamp(), message.msg_id, message.story_id)
        if not await self._record(key, message):
            if not await self._try_send(message):
                log.error("event_lost", subject=message.subject, msg_id=message.msg_id)
            return
        await self._dispatch(key, [message])

    def reserve_record(self, scope: str) -> RecordSlot:
        """A fresh key in `scope`'s slot, ordered like the records this publisher writes, for a store to
        write a record in with its own change (its reader registered with `read_records`)."""
        key = _scoped_key(scope, self._next_stamp(), secrets.token_hex(8))
        trace: dict[str, str] = {}
        inject(trace)
        return RecordSlot(key, int(self._ttl * 1000), trace)

    async def publish_recorded(self, key: str, events: Sequence[OutboundEvent]) -> None:
        """Send the events of a record a store wrote (`key`) beside the caller; forget it once all are
        acknowledged, else the relay re-sends them from it. Never raises."""
        await self._dispatch(key, [self._handed_over(event) for event in events])

    def read_records(self, kind: str, reader: RecordReader) -> None:
        """Relay records holding `kind` (written by a store, not by `send`) as the events `reader` gives."""
        self._readers[kind] = reader

    async def _dispatch(self, key: str, messages: Sequence[OutboundMessage]) -> None:
        """Send a recorded record's messages beside the caller (inline under back-pressure or offline)."""
        self._sending.add(key)  # before the relay can see the record without knowing a send holds it
        connection = self._connection
        if connection is None or not connection.connected or len(self._in_flight) >= MAX_SENDS_IN_FLIGHT:
            await self._deliver(key, messages)
            return
        task = asyncio.create_task(self._deliver(key, messages), name="outbox-send")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _next_stamp(self) -> int:
        """A stamp above every earlier one of this publisher, from the clock (see `outbox_key`)."""
        self._last_stamp = max(self._clock.now_ms() * STAMPS_PER_MS, self._last_stamp + 1)
        return self._last_stamp

    async def settle(self) -> None:
        """Wait for the sends still running beside their callers (before the connection is closed)."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    async def _deliver(self, key: str, messages: Sequence[OutboundMessage]) -> None:
        """Send a record's messages in order and forget it soon once all are acknowledged (else the relay
        re-sends them)."""
        sent = False
        try:
            sent = await self._send_all(messages)
        finally:
            if not sent:
                self._sending.discard(key)
        if sent:
            self._forget_soon(key)

    def _forget_soon(self, key: str) -> None:
        """Forget an acknowledged record with the others acknowledged within `FORGET_AFTER_SECONDS`."""
        self._acknowledged.append(key)
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.create_task(self._forget_acknowledged(), name="outbox-forget")
            self._in_flight.add(self._forgetting)
            self._forgetting.add_done_callback(self._in_flight.discard)

    async def _forget_acknowledged(self) -> None:
        while self._acknowledged:  # (acknowledged while the last delete ran: forget those too)
            await asyncio.sleep(FORGET_AFTER_SECONDS)
            keys, self._acknowledged = self._acknowledged, []
            try:
                await self._forget(keys)
            finally:
                self._sending.difference_update(keys)

    async def _send_all(self, messages: Sequence[OutboundMessage]) -> bool:
        for message in messages:
            if not await self._try_send(message):
                return False
        return True

    async def flush(self, limit: int = FLUSH_LIMIT) -> int:
        """Re-send pending records, oldest first, until one fails; the number sent (PortError if KV fails)."""
        found = await self._kv.list_keys(f"{OUTBOX_PREFIX}*")
        kept_since = self._clock.now_ms() - UNREADABLE_KEPT_SECONDS * 1000
        self._unreadable.intersection_update(found)
        waiting = {k for k in self._unreadable if _recorded_ms(k) > kept_since}
        pending = (k for k in found if k not in self._sending and k not in waiting)
        keys = sorted(pending, key=_recorded_order)[:limit]
        records = await self._kv.get_many(keys)
        done: list[str] = []
        for key in keys:
            record = records.get(key)
            if record is None:
                continue
            try:
                messages = await self._messages_of(record)
            except ValueError as exc:
                if _recorded_ms(key) > kept_since:  # perhaps a later version's: left to a replica of it
                    log.warning("outbox_record_left", key=key, reason=str(exc))
                    self._unreadable.add(key)
                else:
                    log.error("outbox_record_unreadable", key=key, reason=str(exc))
                    done.append(key)
                continue
            except PortError as exc:  # a store a reader needs is away: try again on the next pass
                log.warning("outbox_record_unread", key=key, error=type(exc).__name__)
                break
            if not await self._send_all(messages):
                break
            done.append(key)
        await self._forget(done)
        return len(done)

    async def _messages_of(self, record: JsonObject) -> list[OutboundMessage]:
        """The messages a record stands for: its own message, or what its kind's reader gives."""
        for kind, reader in self._readers.items():
            part = record.get(kind)
            if part is not None:
                if not isinstance(part, dict):
                    raise ValueError(f"outbox record: {kind} is not an object")
                trace = part.get("trace")
                parent = extract(trace) if isinstance(trace, dict) and trace else None
                return [self._handed_over(event, parent) for event in await reader(part)]
        return [OutboundMessage.from_record(record)]

    def _handed_over(self, event: OutboundEvent, parent: Context | None = None) -> OutboundMessage:
        """The event's message, built in its PRODUCER span (child of `parent`, else of the current one)."""
        with publish_span(event.subject, event.idempotency_key, parent):
            return self.message_of(event)

    async def pending(self) -> int:
        """How many records wait in the outbox."""
        return len(await self._kv.list_keys(f"{OUTBOX_PREFIX}*"))

    async def _record(self, key: str, message: OutboundMessage) -> bool:
        try:
            await self._kv.set(key, message.record(self._clock.now_ms()), ttl=self._ttl)
        except PortError as exc:
            log.warning("outbox_record_failed", subject=message.subject, error=type(exc).__name__)
            return False
        return True

    async def _try_send(self, message: OutboundMessage) -> bool:
        connection = self._connection
        if connection is None or not connection.connected:
            return False
        try:
            await connection.publish(
                message.subject, message.data, message.headers, ack_timeout=self._send_timeout
            )
        except PortError as exc:
            log.info("publish_deferred", subject=message.subject, error=type(exc).__name__)
            return False
        return True

    async def _forget(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            await self._kv.delete_many(keys)
        except PortError as exc:
            # The relay re-sends them later; JetStream drops the duplicates by Nats-Msg-Id.
            log.warning("outbox_forget_failed", count=len(keys), error=type(exc).__name__)


class OutboxRelay:
    """Background re-sender: every `interval` seconds, and at once when woken (after a reconnect)."""

    def __init__(self, *, publisher: OutboxPublisher, interval: float = 5.0) -> None:
        self._publisher = publisher
        self._interval = interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Re-send now (e.g. NATS is back)."""
        self._wake.set()

    async def __aenter__(self) -> Self:
        """Start relaying."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop after the sends in flight and one last pass (so what is pending leaves before the connection
        drains)."""
        await self._publisher.settle()
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                sent = await self._publisher.flush()
            except PortError as exc:
                log.warning("outbox_relay_failed", error=type(exc).__name__)
                sent = 0
            if sent:
                log.info("outbox_relayed", count=sent)
            if self._stopping:
                return
            if sent < FLUSH_LIMIT:
                await self._sleep()

    async def _sleep(self) -> None:
        try:
            async with asyncio.timeout(self._interval):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()
