"""A session change writes its outbox record in the same step: a process lost before the hand-over loses no
notification, because the relay re-sends what the record names from the session's change log.

Real Valkey (one node and the 3+3 cluster: the record shares the session's slot) and a real nats-server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.publisher import OUTBOX_PREFIX, OutboxPublisher
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.application.common import RequestMeta
from context_service.application.session_notify import SessionNotifier, changed_subject
from context_service.application.session_services import SessionUseCases, session_use_cases
from context_service.config import NatsSettings
from context_service.domain.session import PutItem, SessionOptions
from tests.conformance.backends import ValkeyTarget, valkey_client, valkey_target
from tests.integration.nats.support import payloads_of, stream_messages
from tests.support.fakes import FixedClock
from tests.support.spans import hex_id, in_trace, named, named_by, parent_of

pytestmark = pytest.mark.integration
RETENTION = 20
META = RequestMeta(correlation_id="corr-notice", idempotency_key="idem-notice")


@dataclass
class Stack:
    """Session use cases on Valkey; the outbox on the same Valkey, where the store writes its records."""

    store: ValkeySessionStore
    outbox: OutboxPublisher
    notifier: SessionNotifier
    uc: SessionUseCases
    clock: FixedClock
    nats_url: str

    async def relay(self) -> int:
        """One relay pass while connected (as a restarted replica's relay makes)."""
        async with NatsConnection(settings=NatsSettings(NATS_URL=self.nats_url), startup_timeout=5.0) as nc:
            self.outbox.attach(nc)
            try:
                return await self.outbox.flush()
            finally:
                self.outbox.attach(None)


@pytest.fixture(params=["valkey", "valkey-cluster"])
async def stack(request: pytest.FixtureRequest, nats_url: str) -> AsyncIterator[Stack]:
    """Everything under a key prefix of this test; no NATS connection attached (the hand-over is lost)."""
    server: ValkeyTarget = valkey_target(request.param, request)
    prefix = f"test:{uuid.uuid4().hex}:"
    async with valkey_client(server) as client:
        clock = FixedClock()
        outbox = OutboxPublisher(kv=ValkeyKeyValueStore(client=client, prefix=prefix), clock=clock)
        store = ValkeySessionStore(
            client=client, prefix=prefix + "ctx:", retention=RETENTION, record_prefix=prefix
        )
        uc = session_use_cases(store=store, publisher=outbox, clock=clock)
        notifier = SessionNotifier(publisher=outbox, store=store)
        yield Stack(store, outbox, notifier, uc, clock, nats_url)


def session_id() -> str:
    """A session id no other test uses (the server's duplicate window spans tests)."""
    return f"s-{uuid.uuid4().hex[:12]}"


async def published(nc: Client, sid: str) -> list[dict[str, Any]]:
    """The payloads stored for the session's subject, oldest first."""
    return [p["payload"] for p in payloads_of(await stream_messages(nc, changed_subject(sid)))]


def item(key: str, value: str = '{"n": 1}') -> PutItem:
    """An unconditional write with the session's default ttl."""
    return PutItem(key=key, value_json=value)


async def test_a_put_lost_before_its_hand_over_is_notified_by_the_relay(stack: Stack, nc: Client) -> None:
    # Arrange: the write's own step records the notice; the process is gone before anything else runs
    sid = session_id()
    notice = stack.notifier.notice(sid, META)
    assert notice is not None

    result = await stack.store.put(sid, [item("plan")], stack.clock.now_ms(), notice)

    # Act
    relayed = await stack.relay()

    # Assert
    assert result.notice_key == notice.slot.key
    messages = await stream_messages(nc, changed_subject(sid))
    assert relayed == 1
    assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [f"{sid}:{result.revision}"]
    assert [p["payload"] for p in payloads_of(messages)] == [
        {
            "session_id": sid,
            "key": "plan",
            "type": "SET",
            "version": 1,
            "revision": result.revision,
            "source": "",
            "at_ms": stack.clock.now_ms(),
        }
    ]
    assert payloads_of(messages)[0]["correlation_id"] == META.correlation_id
    assert await stack.outbox.pending() == 0


async def test_a_notification_the_relay_sends_continues_the_trace_of_the_call_that_made_the_change(
    stack: Stack, nc: Client, spans: InMemorySpanExporter
) -> None:
    # Arrange: the change is made inside a call's span; the process is gone before its hand-over
    sid = session_id()
    with trace.get_tracer("fleet.caller").start_as_current_span("rpc", kind=trace.SpanKind.SERVER) as rpc:
        notice = stack.notifier.notice(sid, META)
        assert notice is not None
        await stack.store.put(sid, [item("plan")], stack.clock.now_ms(), notice)

    # Act: a relay pass, outside any span
    relayed = await stack.relay()

    # Assert: its PRODUCER span is the call's child, and the message names that span
    [message] = await stream_messages(nc, changed_subject(sid))
    trace_id = hex_id(rpc.get_span_context().trace_id, 32)
    [producer] = named(in_trace(spans, trace_id), f"publish {changed_subject(sid)}")
    assert relayed == 1
    assert parent_of(producer) == hex_id(rpc.get_span_context().span_id, 16)
    assert named_by(message) == (trace_id, hex_id(producer.context.span_id, 16))


async def test_the_relay_sends_the_same_notifications_the_hand_over_would_have(
    stack: Stack, nc: Client
) -> None:
    # Arrange: a full session evicts for a batch (several revisions, one of them shared by the batch)
    sid = session_id()
    await stack.uc.create.execute(sid, SessionOptions(max_entries=2))
    for key in ("a", "b"):  # each write under its own idempotency key
        keyed = META._replace(idempotency_key=f"idem-{key}")
        await stack.uc.put.execute(sid, [item(key)], keyed, batch=False)
    notice = stack.notifier.notice(sid, META)
    result = await stack.store.put(sid, [item("c"), item("d")], stack.clock.now_ms(), notice)

    # Act
    await stack.relay()

    # Assert: the two evictions, then both items of the batch at its one revision
    tail = [(p["type"], p["key"], p["revision"]) for p in await published(nc, sid)][-4:]
    assert tail == [
        ("EVICT", "a", result.revision - 2),
        ("EVICT", "b", result.revision - 1),
        ("SET", "c", result.revision),
        ("SET", "d", result.revision),
    ]


async def test_every_kind_of_change_records_its_notice(stack: Stack, nc: Client) -> None:
    # Arrange: a delete and a drop, each lost before its hand-over
    sid = session_id()
    await stack.store.put(sid, [item("k")], stack.clock.now_ms())
    deleted = await stack.store.delete(sid, "k", None, stack.clock.now_ms(), stack.notifier.notice(sid, META))
    dropped = await stack.store.drop_session(sid, stack.clock.now_ms(), stack.notifier.notice(sid, META))

    # Act
    relayed = await stack.relay()

    # Assert
    assert relayed == 2
    assert deleted.notice_key != ""
    assert dropped.notice_key != ""
    assert [(p["type"], p["revision"]) for p in await published(nc, sid)] == [
        ("DELETE", deleted.revision),
        ("SESSION_DROPPED", deleted.revision + 1),
    ]


async def test_the_sweepers_expiries_record_their_notice(stack: Stack, nc: Client) -> None:
    # Arrange: an entry whose ttl has passed when the sweep runs
    sid = session_id()
    await stack.store.put(sid, [PutItem(key="short", value_json="1", ttl_ms=10)], stack.clock.now_ms())
    stack.clock.advance(50)

    # Act
    swept = await stack.store.sweep(stack.clock.now_ms(), 100, lambda s: stack.notifier.notice(s, META))
    await stack.relay()

    # Assert
    mine = [s for s in swept if s.session_id == sid]
    assert [bool(s.notice_key) for s in mine] == [True]
    assert [(p["type"], p["key"]) for p in await published(nc, sid)] == [("EXPIRE", "short")]


async def test_a_session_without_notifications_records_nothing(stack: Stack) -> None:
    sid = session_id()
    await stack.uc.create.execute(sid, SessionOptions(notifications=False))

    result = await stack.store.put(sid, [item("k")], stack.clock.now_ms(), stack.notifier.notice(sid, META))

    assert result.notice_key == ""
    assert await stack.outbox.pending() == 0


async def test_a_write_answered_through_the_use_case_leaves_no_record_once_sent(
    stack: Stack, nc: Client
) -> None:
    # Arrange
    sid = session_id()
    async with NatsConnection(settings=NatsSettings(NATS_URL=stack.nats_url), startup_timeout=5.0) as conn:
        stack.outbox.attach(conn)

        # Act
        result = await stack.uc.put.execute(sid, [item("k")], META, batch=False)
        await stack.outbox.settle()

    # Assert: the use case had the store write the record, and its own send forgot it
    assert result.notice_key != ""
    assert [p["revision"] for p in await published(nc, sid)] == [result.revision]
    assert await stack.outbox.pending() == 0


async def test_a_record_whose_revisions_left_the_log_is_dropped_as_lost(stack: Stack, nc: Client) -> None:
    # Arrange: the recorded revision is trimmed away before any relay runs
    sid = session_id()
    await stack.store.put(sid, [item("k")], stack.clock.now_ms(), stack.notifier.notice(sid, META))
    for n in range(RETENTION + 5):
        await stack.store.put(sid, [item("k", str(n))], stack.clock.now_ms())

    # Act
    with structlog.testing.capture_logs() as logs:
        relayed = await stack.relay()

    # Assert: nothing to send, the loss said, and the record no longer waits
    assert relayed == 1
    assert await published(nc, sid) == []
    assert [e["session_id"] for e in logs if e["event"] == "session_notifications_lost"] == [sid]
    assert await stack.outbox.pending() == 0


def test_outbox_records_of_sessions_share_the_sessions_slot() -> None:
    publisher = OutboxPublisher(kv=InMemoryKeyValueStore(), clock=FixedClock())

    key = publisher.reserve_record("{sess:s-1}").key

    assert key.startswith(OUTBOX_PREFIX + "{sess:s-1}:")
