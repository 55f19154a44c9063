"""Durable pull consumers: fetch a batch, handle each message (decode → use case → respond), then settle it.

Order per message: effect → response → dedup record → ack. A crash anywhere before the ack redelivers the
message; the dedup record (or, without it, the idempotent write) makes the second delivery change nothing.
Each message is processed in a CONSUMER span continuing its headers' trace; its log lines carry the trace id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from context_service.adapters.nats import metrics
from context_service.adapters.nats.connection import NatsConnection, translated
from context_service.adapters.nats.deadletter import dead_letter
from context_service.adapters.nats.envelope import (
    Envelope,
    decode_envelope,
    extract_context,
    peek,
    reply_address,
)
from context_service.adapters.nats.handlers import Route, response_event
from context_service.adapters.nats.outcomes import Action, verdict
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.adapters.nats.settle import ConsumerSettings, settle
from context_service.adapters.nats.streams import stream_of
from context_service.observability.logging import bound_fields
from context_service.observability.tracing import process_span, record_outcome, trace_fields
from context_service.ports.errors import PortError, StoreTimeout
from context_service.ports.kv import KeyValueStore

log = structlog.get_logger()
DEDUP_PREFIX = "ctx:dedup:"
API_TIMEOUT_SECONDS = 2.0
# Test seam: called after the effect, before the dedup record and the ack; False leaves the message
# unacknowledged, as a process that stopped at that point would.
AfterEffect = Callable[[str, str], Awaitable[bool]]
# Verdict codes that are the service's fault, not the sender's (as for RPCs): the message's span is an error.
FAULT_CODES = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "INTERNAL"})


def dedup_key(subject: str, idempotency_key: str) -> str:
    """Where the processed-marker of an inbound idempotency key lives."""
    return f"{DEDUP_PREFIX}{subject}:{idempotency_key}"


@dataclass
class _Line:
    """The fields of the one canonical log line of a consumed message."""

    story_id: str = ""
    correlation_id: str = ""
    outcome: str = "failed"
    reason: str = ""
    error: str = ""


class Consumer:
    """One durable pull consumer of one subject; start() runs it, stop() finishes in-flight messages."""

    def __init__(
        self,
        *,
        route: Route,
        connection: NatsConnection,
        kv: KeyValueStore,
        publisher: OutboxPublisher,
        settings: ConsumerSettings,
        after_effect: AfterEffect | None = None,
    ) -> None:
        self.route = route
        self._connection = connection
        self._kv = kv
        self._publisher = publisher
        self._settings = settings
        self._after_effect = after_effect
        self._stream = stream_of(route.subject)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create or update the durable and bind to it (PortError if JetStream refuses), then fetch."""
        subscription = await self._subscribe()
        self._task = asyncio.create_task(self._run(subscription), name=f"consumer:{self.route.durable}")

    async def stop(self) -> None:
        """Stop fetching, let the batch in hand finish, then return."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    def config(self) -> ConsumerConfig:
        """The durable's configuration (created, or updated in place, at start)."""
        s = self._settings
        # A new durable replays the stream's events (idempotent upserts backfill the graph), but not
        # requests made before it existed: nobody waits for those answers any more.
        policy = DeliverPolicy.NEW if self.route.response_subject else DeliverPolicy.ALL
        return ConsumerConfig(
            name=self.route.durable,
            durable_name=self.route.durable,
            filter_subject=self.route.subject,
            deliver_policy=policy,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait,
            max_deliver=s.max_deliver,
            max_ack_pending=max(1000, 4 * s.fetch_batch),
        )

    async def _run(self, bound: JetStreamContext.PullSubscription) -> None:
        subscription: JetStreamContext.PullSubscription | None = bound
        failures = 0
        while not self._stopping.is_set():
            if not self._connection.connected:
                # The client reconnects (and re-subscribes) by itself; until then there is nothing to fetch.
                await self._pause(self._settings.fetch_timeout)
                continue
            try:
                if subscription is None:
                    subscription = await self._subscribe()
                messages = await self._fetch(subscription)
                failures = 0
            except Exception as exc:  # a consumer never dies: it pauses, then binds again
                failures += 1
                if failures == 1:
                    log.warning("consumer_paused", consumer=self.route.durable, error=type(exc).__name__)
                subscription = None
                await self._pause(min(self._settings.fetch_timeout * failures, 5.0))
                continue
            if messages:
                async with asyncio.TaskGroup() as group:
                    for message in messages:
                        group.create_task(self._handle(message))
        if subscription is not None:
            # Unbind before the connection drains: a pull subscription's idle queue never drains on its own.
            with contextlib.suppress(PortError), translated("unsubscribe"):
                await subscription.unsubscribe()

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless asked to stop meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        js = self._connection.jetstream
        with translated("add_consumer"):
            try:
                await js.add_consumer(self._stream, config=self.config(), timeout=API_TIMEOUT_SECONDS)
            except nats.js.errors.ServiceUnavailableError:
                raise
            except nats.js.errors.APIError as exc:
                # An existing durable whose fixed settings differ (e.g. deliver policy): use it as it is.
                log.warning("nats_consumer_differs", consumer=self.route.durable, detail=exc.description)
            return await js.pull_subscribe_bind(durable=self.route.durable, stream=self._stream)

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            with translated("fetch"):
                return await subscription.fetch(
                    self._settings.fetch_batch, timeout=self._settings.fetch_timeout
                )
        except StoreTimeout:
            return []  # nothing to fetch within the timeout (or the server is away: the loop polls again)

    async def _handle(self, msg: Msg) -> None:
        """One message inside its CONSUMER span, with the span's trace id bound for every log line."""
        delivery = msg.metadata.num_delivered or 1
        parent = extract_context(msg.headers)
        with process_span(msg.subject, parent, consumer=self.route.durable, delivery=delivery) as span:
            line = _Line()
            with bound_fields(**trace_fields()):
                await self._handle_traced(msg, delivery, line)
            record_outcome(span, line.outcome, error=line.error, fault=line.error in FAULT_CODES)

    async def _handle_traced(self, msg: Msg, delivery: int, line: _Line) -> None:
        started = time.perf_counter()
        if delivery > 1:
            metrics.REDELIVERED.labels(self.route.durable).inc()
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        try:
            await self._process(msg, delivery, line)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            log.info(
                "nats_message",
                subject=msg.subject,
                consumer=self.route.durable,
                story_id=line.story_id,
                correlation_id=line.correlation_id,
                delivery=delivery,
                outcome=line.outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **({"reason": line.reason} if line.reason else {}),
            )

    async def _heartbeat(self, msg: Msg) -> None:
        """Tell JetStream the message is still being worked on, so it is not redelivered mid-work."""
        while True:
            await asyncio.sleep(self._settings.ack_wait / 3)
            with contextlib.suppress(PortError), translated("in_progress"):
                await msg.in_progress()

    async def _process(self, msg: Msg, delivery: int, line: _Line) -> None:
        envelope: Envelope | None = None
        try:
            envelope = decode_envelope(msg.data)
            line.correlation_id = envelope.correlation_id
            line.story_id = str(envelope.payload.get(self.route.key_field, ""))
            await self._apply(msg, envelope, line)
        except Exception as exc:  # every failure is settled by the policy table
            await self._fail(msg, delivery, envelope, exc, line)

    async def _apply(self, msg: Msg, envelope: Envelope, line: _Line) -> None:
        key = dedup_key(self.route.subject, envelope.idempotency_key)
        recorded = await self._kv.get(key)
        if recorded is not None:
            await self._respond(msg, envelope, recorded.get("response"))
            await settle(msg, "ack")
            metrics.DEDUPLICATED.labels(self.route.durable).inc()
            line.outcome = "deduplicated"
            return
        response = await self.route.handle(envelope)
        await self._respond(msg, envelope, response)
        if self._after_effect is not None and not await self._after_effect(msg.subject, key):
            line.outcome = "dropped"
            return
        await self._kv.set(key, {"response": response}, ttl=self._settings.dedup_ttl)
        await settle(msg, "ack")
        metrics.PROCESSED.labels(self.route.durable).inc()
        line.outcome = "processed"

    async def _respond(self, msg: Msg, envelope: Envelope, response: Any) -> None:
        if not self.route.response_subject or not isinstance(response, dict):
            return
        event = response_event(
            self.route,
            response,
            request_key=envelope.idempotency_key,
            correlation_id=envelope.correlation_id,
        )
        await self._publisher.respond(event, reply_address(msg.headers))

    async def _fail(
        self, msg: Msg, delivery: int, envelope: Envelope | None, exc: Exception, line: _Line
    ) -> None:
        found = verdict(exc)
        metrics.FAILED.labels(self.route.durable).inc()
        line.reason, line.error = found.reason, found.code
        if found.code == "INTERNAL":
            log.error("consumer_handler_failed", consumer=self.route.durable, exc_info=exc)
        if found.action is Action.RETRY and delivery < self._settings.max_deliver:
            await settle(msg, "nak", delay=self._settings.delay(delivery))
            line.outcome = "retry"
            return
        await self._publisher.send(dead_letter(msg, found.reason, delivery))
        if self.route.response_subject:
            await self._answer_error(msg, envelope, line.story_id, found.code, found.reason)
        await settle(msg, "term")
        metrics.DEAD_LETTERED.labels(self.route.durable).inc()
        line.outcome = "dead_lettered"

    async def _answer_error(
        self, msg: Msg, envelope: Envelope | None, key_value: str, code: str, reason: str
    ) -> None:
        """The error response of a request that will never succeed (ids read loosely if undecodable)."""
        key_value = key_value or peek(msg.data, self.route.key_field)
        request_key = envelope.idempotency_key if envelope else self._fallback_id(msg, "idempotency_key")
        correlation = envelope.correlation_id if envelope else self._fallback_id(msg, "correlation_id")
        payload = self.route.error_response(key_value, code, reason)
        event = response_event(self.route, payload, request_key=request_key, correlation_id=correlation)
        await self._publisher.respond(event, reply_address(msg.headers))

    def _fallback_id(self, msg: Msg, name: str) -> str:
        """An envelope id read loosely from an invalid message, else its stream position."""
        return peek(msg.data, name) or f"{msg.metadata.stream}:{msg.metadata.sequence.stream}"
