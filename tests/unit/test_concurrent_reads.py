"""Shared reads never answer a call with a read sent before the call arrived; under load they share.

Also session Get sharing its store reads."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from context_service.application.concurrent_reads import CoalescedReads
from context_service.application.session_reads import GetEntries
from context_service.domain.session import Entry
from tests.support.fakes import FixedClock


class Store:
    """A value per key that writes bump; a read sees the value as it was when the read was sent."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.sent: list[str] = []
        self.gate: asyncio.Event | None = None  # when set: reads wait for it before answering
        self.fail_next = False

    def write(self, key: str) -> None:
        self.versions[key] = self.versions.get(key, 0) + 1

    async def read(self, key: str) -> int:
        seen = self.versions.get(key, 0)
        self.sent.append(key)
        failing, self.fail_next = self.fail_next, False
        if self.gate is not None:
            await self.gate.wait()
        else:
            await asyncio.sleep(random.random() / 1000)
        if failing:
            raise ConnectionError("store went away")
        return seen


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def held() -> tuple[Store, CoalescedReads[str, int]]:
    """A store whose reads wait for its gate, and shared reads over it."""
    store = Store()
    store.gate = asyncio.Event()
    return store, CoalescedReads(store.read)


async def started(reads: CoalescedReads[str, int], *keys: str) -> list[asyncio.Future[int]]:
    """A call per key, each started and left waiting."""
    calls = [asyncio.ensure_future(reads.get(key)) for key in keys]
    await settle()
    return calls


async def test_a_lone_call_sends_its_read_at_once() -> None:
    store = Store()
    store.write("s1")
    reads = CoalescedReads(store.read)
    assert await reads.get("s1") == 1
    assert store.sent == ["s1"]


async def test_calls_arriving_during_a_read_share_the_next_one_not_the_running_one() -> None:
    store, reads = held()
    [first] = await started(reads, "s1")
    store.write("s1")  # acknowledged after the first read was sent, before the others arrive
    later = await started(reads, *["s1"] * 5)
    assert store.sent == ["s1"]  # the five wait; they did not send five reads
    store.gate.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 5
    assert store.sent == ["s1", "s1"]


async def test_keys_do_not_share() -> None:
    store, reads = held()
    calls = await started(reads, "a", "b", "a")
    assert sorted(store.sent) == ["a", "b"]  # the second "a" waits for the next read of "a"
    store.write("b")
    store.gate.set()
    assert await asyncio.gather(*calls) == [0, 0, 0]
    assert sorted(store.sent) == ["a", "a", "b"]


async def test_a_failed_read_fails_its_callers_only_and_the_next_read_is_sent_anyway() -> None:
    store, reads = held()
    store.fail_next = True
    [first] = await started(reads, "s1")
    [second] = await started(reads, "s1")
    store.gate.set()
    with pytest.raises(ConnectionError):
        await first
    assert await second == 0
    assert await reads.get("s1") == 0  # nothing left behind
    assert len(store.sent) == 3


async def test_a_caller_giving_up_does_not_strand_the_callers_waiting_after_it() -> None:
    store, reads = held()
    [first] = await started(reads, "s1")
    joined = await started(reads, "s1", "s1")
    first.cancel()
    joined[0].cancel()
    await settle()
    store.write("s1")
    store.gate.set()
    assert await joined[1] == 0  # sent when the first caller gave up its read, before the write
    assert first.cancelled()
    assert joined[0].cancelled()
    assert store.sent == ["s1", "s1"]  # the joined callers' read went out although the first gave up


async def test_every_answer_is_at_least_as_new_as_the_writes_before_the_call() -> None:
    store = Store()
    reads = CoalescedReads(store.read)
    random.seed(7)
    outcomes: list[tuple[int, int]] = []

    async def caller(key: str) -> None:
        for _ in range(40):
            if random.random() < 0.3:
                store.write(key)
            known = store.versions.get(key, 0)  # every write acknowledged before this call
            outcomes.append((known, await reads.get(key)))
            await asyncio.sleep(random.random() / 2000)

    await asyncio.gather(*(caller(random.choice("xy")) for _ in range(30)))
    assert len(outcomes) == 30 * 40
    assert all(answer >= known for known, answer in outcomes)
    assert len(store.sent) < len(outcomes)  # shared under load


class GatedSessions:
    """The one SessionStore read GetEntries makes, held at a gate and counted."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.reads: list[tuple[str, tuple[str, ...]]] = []

    async def get(self, session_id: str, keys: Sequence[str], now_ms: int) -> list[Entry]:
        self.reads.append((session_id, tuple(keys)))
        await self.gate.wait()
        return []


async def test_session_gets_of_the_same_keys_share_a_read_sent_after_they_arrived() -> None:
    store = GatedSessions()
    get = GetEntries(store=store, clock=FixedClock())  # type: ignore[arg-type]  # only `get` is read
    first = asyncio.ensure_future(get.execute("s-1", ["k"]))
    await settle()
    others = [asyncio.ensure_future(get.execute("s-1", ["k"])) for _ in range(3)]
    other_session = asyncio.ensure_future(get.execute("s-2", ["k"]))
    await settle()
    store.gate.set()
    await asyncio.gather(first, *others, other_session)
    assert store.reads == [("s-1", ("k",)), ("s-2", ("k",)), ("s-1", ("k",))]  # the three shared one
