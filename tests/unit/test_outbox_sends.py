"""The outbox publisher answers its caller once a message is recorded, and sends it beside the caller.

The connection here is a stand-in whose acknowledgements the test releases: what is verified is the
publisher's order of record, answer, send and forget, not NATS (the outbox against a real server is in
tests/integration/nats).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import cast

import pytest

from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats import publisher as outbox
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.publisher import OutboxPublisher, OutboxRelay
from context_service.ports.errors import StoreUnavailable
from context_service.ports.events import OutboundEvent
from tests.support.fakes import FixedClock


class HeldAcks:
    """A connection whose JetStream acknowledgements wait until the test releases them."""

    def __init__(self) -> None:
        self.connected = True
        self.started: list[str] = []  # subjects, in the order their sends began
        self.acknowledged: list[str] = []
        self.release = asyncio.Event()
        self.refuse = False

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str], *, ack_timeout: float = 2.0
    ) -> None:
        self.started.append(subject)
        await self.release.wait()
        if self.refuse:
            raise StoreUnavailable("no stream answered", backend="nats", operation="publish")
        self.acknowledged.append(subject)


def event(n: int) -> OutboundEvent:
    """The n-th change of one session."""
    return OutboundEvent(
        subject=f"context.session.s-{n}.changed",
        event_type="context.session.changed",
        payload={"session_id": f"s-{n}", "revision": n},
        idempotency_key=f"s-{n}:{n}",
        correlation_id=f"c-{n}",
    )


def attached(kv: InMemoryKeyValueStore, acks: HeldAcks) -> OutboxPublisher:
    publisher = OutboxPublisher(kv=kv, clock=FixedClock(step_ms=1))
    publisher.attach(cast(NatsConnection, acks))
    return publisher


async def test_publish_returns_once_recorded_and_the_record_is_forgotten_after_the_ack() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)

    # Act: JetStream has not acknowledged anything yet
    await asyncio.wait_for(publisher.publish(event(1)), timeout=5)
    await asyncio.sleep(0)
    recorded_while_sending = await publisher.pending()
    acks.release.set()
    await publisher.settle()

    # Assert
    sent = [event(1).subject]
    assert (recorded_while_sending, acks.started, acks.acknowledged) == (1, sent, sent)
    assert await publisher.pending() == 0


async def test_a_refused_send_leaves_its_record_for_the_relay() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)
    acks.refuse = True

    # Act
    await publisher.publish(event(1))
    acks.release.set()
    await publisher.settle()

    # Assert
    assert (acks.acknowledged, await publisher.pending()) == ([], 1)


async def test_the_relay_leaves_alone_a_record_whose_send_is_still_waiting() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)
    await publisher.publish(event(1))
    await asyncio.sleep(0)

    # Act: a relay pass while the first send waits for its ack
    relay_pass = asyncio.create_task(publisher.flush())
    await asyncio.sleep(0.01)
    acks.release.set()
    relayed = await relay_pass
    await publisher.settle()

    # Assert: one send only, and nothing left
    assert (relayed, acks.started, await publisher.pending()) == (0, [event(1).subject], 0)


async def test_sends_begin_in_the_order_the_messages_were_recorded() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)

    # Act
    for n in range(20):
        await publisher.publish(event(n))
    acks.release.set()
    await publisher.settle()

    # Assert
    assert acks.started == [event(n).subject for n in range(20)]
    assert acks.acknowledged == acks.started


async def test_past_the_limit_of_sends_in_flight_the_caller_sends_inline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: room for two sends beside their callers
    monkeypatch.setattr(outbox, "MAX_SENDS_IN_FLIGHT", 2)
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)
    await publisher.publish(event(1))
    await publisher.publish(event(2))

    # Act: the third caller waits for its own acknowledgement
    third = asyncio.create_task(publisher.publish(event(3)))
    await asyncio.sleep(0.01)
    waited = not third.done()
    acks.release.set()
    await third

    # Assert
    assert waited
    assert event(3).subject in acks.acknowledged
    await publisher.settle()
    assert await publisher.pending() == 0


async def test_without_a_live_connection_the_message_stays_recorded_and_no_send_is_left_running() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)
    acks.connected = False

    # Act
    await publisher.publish(event(1))
    running = [t for t in asyncio.all_tasks() if t.get_name() == "outbox-send"]

    # Assert
    assert (acks.started, running, await publisher.pending()) == ([], [], 1)


async def test_stopping_the_relay_waits_for_the_sends_in_flight() -> None:
    # Arrange
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = attached(kv, acks)
    relay = OutboxRelay(publisher=publisher, interval=60)
    await relay.__aenter__()
    await publisher.publish(event(1))

    # Act
    stopping = asyncio.create_task(relay.__aexit__(None, None, None))
    await asyncio.sleep(0.01)
    still_waiting = not stopping.done()
    acks.release.set()
    await stopping

    # Assert: the relay stopped only after the send was acknowledged and its record forgotten
    assert still_waiting
    assert (acks.acknowledged, await publisher.pending()) == ([event(1).subject], 0)


async def test_records_made_in_the_same_millisecond_are_relayed_in_the_order_they_were_made() -> None:
    # Arrange: twenty records at one clock reading, while NATS was out of reach
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = OutboxPublisher(kv=kv, clock=FixedClock(step_ms=0))
    for n in range(20):
        await publisher.publish(event(n))
    publisher.attach(cast(NatsConnection, acks))
    acks.release.set()

    # Act
    relayed = await publisher.flush()

    # Assert
    assert relayed == 20
    assert acks.acknowledged == [event(n).subject for n in range(20)]


async def test_records_left_with_millisecond_keys_relay_in_time_order_beside_stamped_ones() -> None:
    # Arrange: records keyed `{ms:013d}` (before stamps) around one stamped record of the millisecond between
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = OutboxPublisher(kv=kv, clock=FixedClock(start_ms=1_793_534_400_001))
    for ms, n in ((1_793_534_400_000, 1), (1_793_534_400_002, 3)):
        key = f"{outbox.OUTBOX_PREFIX}{ms:013d}:0123456789abcdef"
        await kv.set(key, publisher.message_of(event(n)).record(ms))
    await publisher.publish(event(2))
    publisher.attach(cast(NatsConnection, acks))
    acks.release.set()

    # Act
    await publisher.flush()

    # Assert
    assert acks.acknowledged == [event(n).subject for n in (1, 2, 3)]


class CountedDeletes(InMemoryKeyValueStore):
    """The in-memory store, counting the delete commands it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.deletes: list[int] = []  # how many keys each delete named
        self.open = asyncio.Event()  # deletes wait for it
        self.open.set()

    async def delete_many(self, keys: Iterable[str]) -> None:
        named = list(keys)
        self.deletes.append(len(named))
        await self.open.wait()
        await super().delete_many(named)


async def test_records_acknowledged_together_are_forgotten_in_one_delete_the_relay_does_not_resend() -> None:
    # Arrange
    kv, acks = CountedDeletes(), HeldAcks()
    publisher = attached(kv, acks)
    for n in range(10):
        await publisher.publish(event(n))
    acks.release.set()
    await asyncio.sleep(0.001)  # every send acknowledged; their records wait to be forgotten

    # Act: a relay pass meanwhile, then the forgetting
    relayed = await publisher.flush()
    await publisher.settle()

    # Assert: nothing was sent twice, and one delete forgot the ten records
    assert (relayed, len(acks.started), kv.deletes, await publisher.pending()) == (0, 10, [10], 0)


async def test_a_record_acknowledged_while_the_last_delete_runs_is_forgotten_after_it() -> None:
    # Arrange: the first record's delete is under way and waits
    kv, acks = CountedDeletes(), HeldAcks()
    publisher = attached(kv, acks)
    acks.release.set()
    kv.open.clear()
    await publisher.publish(event(1))
    await asyncio.sleep(outbox.FORGET_AFTER_SECONDS * 2)

    # Act: a second record is acknowledged meanwhile; then the delete ends
    await publisher.publish(event(2))
    await asyncio.sleep(0.001)
    kv.open.set()
    await publisher.settle()

    # Assert: both forgotten, one delete each
    assert (kv.deletes, await publisher.pending()) == ([1, 1], 0)


async def test_a_record_this_version_cannot_read_is_left_to_a_replica_that_can_for_an_hour() -> None:
    # Arrange: a record of a kind a later version writes, between two this version sends
    clock = FixedClock()
    kv, acks = InMemoryKeyValueStore(), HeldAcks()
    publisher = OutboxPublisher(kv=kv, clock=clock)
    await publisher.publish(event(1))
    later = outbox.outbox_key(clock.now_ms() * outbox.STAMPS_PER_MS + 500, "later-kind")
    await kv.set(later, {"session_v9": {"session_id": "s-9", "revision": 9}})
    clock.advance(1)
    await publisher.publish(event(2))
    publisher.attach(cast(NatsConnection, acks))
    acks.release.set()

    # Act: a pass now, another (with a newer record) just before the hour is up, and one just after it
    first = await publisher.flush()
    clock.advance(outbox.UNREADABLE_KEPT_SECONDS * 1000 - 10)
    await publisher.publish(event(3))
    await publisher.settle()
    second = await publisher.flush()
    kept = await kv.get(later)
    clock.advance(20)
    third = await publisher.flush()

    # Assert: the readable records went out in order past it; it stayed for an hour, then was deleted
    assert (first, second, third) == (2, 0, 1)
    assert acks.acknowledged == [event(n).subject for n in (1, 2, 3)]
    assert kept is not None
    assert await kv.get(later) is None
    assert await publisher.pending() == 0
