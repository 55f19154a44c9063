"""The fences of key tracking: which PING's answer a call may take, and when the next PING is written.

A call must only be answered by a PING written after it arrived (the server answers a PING after every
change it made before it). One PING is out at a time; the calls arriving meanwhile share the next one, held
while the event loop has other work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from context_service.adapters.valkey.tracking import BothCaught, Fences

ANY_TURN = 60.0  # as `quiet_seconds`: every turn of the loop counts as quiet
NO_TURN = 0.0  # as `quiet_seconds`: no turn does, the hold alone ends


class Wire:
    """Counts the PINGs written."""

    def __init__(self) -> None:
        self.pings = 0

    def send(self) -> None:
        self.pings += 1


def fences_on(wire: Wire, *, hold_seconds: float = 60, quiet_seconds: float = ANY_TURN) -> Fences:
    return Fences(wire.send, hold_seconds=hold_seconds, quiet_seconds=quiet_seconds)


def held_for_a_second_call(wire: Wire) -> tuple[Fences, asyncio.Future[bool]]:
    """A first PING written and answered while a second call waited: the second's PING is held (unwritten)."""
    fences = fences_on(wire)
    fences.fence()
    second = fences.fence()
    fences.answered()
    return fences, second


async def next_turn() -> None:
    """Let the event loop run what is due now (a held PING's check among it)."""
    await asyncio.sleep(0)


async def test_a_lone_call_writes_one_ping_and_is_answered_by_it() -> None:
    wire = Wire()
    fences = fences_on(wire)

    answer = fences.fence()
    fences.answered()

    assert wire.pings == 1
    assert await answer is True


async def test_calls_arriving_while_a_ping_is_out_wait_for_the_next_one_which_they_share() -> None:
    wire = Wire()
    fences = fences_on(wire)
    first = fences.fence()
    later = [fences.fence(), fences.fence(), fences.fence()]

    fences.answered()  # the PING written before the later calls arrived

    assert first.done()
    assert not any(f.done() for f in later)
    await next_turn()
    assert wire.pings == 2  # the next one went out in the next quiet turn, for all of them
    fences.answered()
    assert [await f for f in later] == [True, True, True]
    assert wire.pings == 2  # nobody waits: no PING more


async def test_a_call_arriving_after_the_next_ping_went_out_waits_for_its_own() -> None:
    wire = Wire()
    fences, second = held_for_a_second_call(wire)
    await next_turn()  # the second's PING is written now

    third = fences.fence()
    fences.answered()

    assert await second is True
    assert not third.done()
    await next_turn()
    assert wire.pings == 3
    fences.answered()
    assert await third is True


async def test_a_call_arriving_while_the_next_ping_is_held_joins_it() -> None:
    wire = Wire()
    fences, second = held_for_a_second_call(wire)

    third = fences.fence()  # before the held PING's check: nothing is written for it
    assert wire.pings == 1
    await next_turn()

    assert wire.pings == 2
    fences.answered()
    assert [await second, await third] == [True, True]


async def test_when_no_answer_will_come_every_waiting_call_answers_false_and_the_next_call_starts_anew() -> (
    None
):
    wire = Wire()
    fences = fences_on(wire)
    waiting = [fences.fence(), fences.fence()]

    fences.fail()
    fresh = fences.fence()

    assert [await f for f in waiting] == [False, False]
    assert not fresh.done()
    assert wire.pings == 2


async def test_an_answer_nobody_waits_for_changes_nothing() -> None:
    wire = Wire()
    fences = fences_on(wire)

    fences.answered()  # e.g. a reply read after the calls gave up

    assert wire.pings == 0
    assert not fences.fence().done()


def held(wire: Wire, *, hold_seconds: float = 60) -> tuple[Fences, asyncio.Future[bool]]:
    """Two readers; the first was answered and is still at work, the second waits for the next PING (held)."""
    fences = fences_on(wire, hold_seconds=hold_seconds)
    fences.begin()
    fences.begin()
    fences.fence()
    waiting = fences.fence()
    fences.answered()
    return fences, waiting


async def test_the_next_ping_is_held_while_a_reader_is_still_at_work_and_goes_out_after_it_ends() -> None:
    wire = Wire()
    fences = fences_on(wire)
    fences.begin()  # two readers: the first asks, the second arrives while its PING is out
    fences.begin()
    first = fences.fence()
    second = fences.fence()

    fences.answered()  # the first reader is answered and works on what it read; the second waits

    assert first.done()
    assert not second.done()
    for _ in range(3):
        await next_turn()
    assert wire.pings == 1  # held: the first may still be followed by calls that can share the next PING
    fences.begin()  # a call arriving meanwhile joins the held PING
    third = fences.fence()
    assert wire.pings == 1
    fences.end()  # the first reader is done: every reader left waits for the next PING
    await next_turn()
    assert wire.pings == 2
    fences.answered()
    assert [await second, await third] == [True, True]


async def test_a_held_ping_goes_out_once_every_reader_waits_for_it() -> None:
    wire = Wire()
    fences, waiting = held(wire)
    await next_turn()
    assert wire.pings == 1

    again = fences.fence()  # the answered reader asks again: now both wait
    await next_turn()

    assert wire.pings == 2
    fences.answered()
    assert [await waiting, await again] == [True, True]


async def test_the_next_ping_is_held_while_turns_of_the_loop_are_busy_with_other_work() -> None:
    wire = Wire()
    fences = fences_on(wire, quiet_seconds=0.01)
    fences.fence()
    waiting = fences.fence()
    asyncio.get_running_loop().call_soon(time.sleep, 0.05)  # other work in the next turn

    fences.answered()
    await next_turn()  # a busy turn: the check in it holds on

    assert wire.pings == 1
    await next_turn()  # a quiet turn
    assert wire.pings == 2
    fences.answered()
    assert await waiting is True


def held_by_a_reader(wire: Wire) -> tuple[Fences, asyncio.Future[bool]]:
    """The answered reader never ends nor asks again; every turn is quiet."""
    return held(wire, hold_seconds=0.01)


def held_by_busy_turns(wire: Wire) -> tuple[Fences, asyncio.Future[bool]]:
    """No reader at work, but no turn is ever quiet."""
    fences = fences_on(wire, hold_seconds=0.01, quiet_seconds=NO_TURN)
    fences.fence()
    waiting = fences.fence()
    fences.answered()
    return fences, waiting


@pytest.mark.parametrize("hold", [held_by_a_reader, held_by_busy_turns])
async def test_a_held_ping_goes_out_when_the_hold_is_up_whatever_still_holds_it(
    hold: Callable[[Wire], tuple[Fences, asyncio.Future[bool]]],
) -> None:
    wire = Wire()
    fences, waiting = hold(wire)
    await next_turn()
    assert wire.pings == 1

    await asyncio.sleep(0.05)

    assert wire.pings == 2
    fences.answered()
    assert await waiting is True


async def test_without_readers_at_work_the_next_ping_goes_out_in_the_next_quiet_turn() -> None:
    wire = Wire()
    fences = fences_on(wire)
    fences.begin()
    first = fences.fence()
    later = fences.fence()  # not a reader (the tracker's own periodic fence)
    fences.end()  # the reader stopped waiting (gave up) before the answer

    fences.answered()

    assert first.done()
    await next_turn()
    assert wire.pings == 2
    fences.answered()
    assert await later is True


async def test_a_second_answer_while_the_next_ping_is_held_writes_it_once() -> None:
    wire = Wire()
    fences, waiting = held(wire, hold_seconds=0.01)

    fences.answered()  # no PING is out: an answer nobody asked for
    await asyncio.sleep(0.05)

    assert wire.pings == 2
    fences.answered()
    assert await asyncio.wait_for(waiting, 1) is True  # the answer went to the PING written for it
    assert not fences.fence().done()
    assert wire.pings == 3


async def test_a_lost_connection_ends_a_hold_and_answers_its_callers_false() -> None:
    wire = Wire()
    fences, waiting = held(wire)

    fences.fail()

    assert await waiting is False
    await next_turn()
    assert wire.pings == 1  # nothing written for a connection that is gone
    assert not fences.fence().done()  # on the next connection: nothing held, readers at work or not
    assert wire.pings == 2


class Tracker:
    """What `BothCaught` uses of a tracker: a fence per call (answered by the test), awaited by `wait`."""

    def __init__(self) -> None:
        self.fences: list[asyncio.Future[bool]] = []
        self.generation = 0

    def fence(self) -> asyncio.Future[bool]:
        self.fences.append(asyncio.get_running_loop().create_future())
        return self.fences[-1]

    def wait(self, fence: asyncio.Future[bool]) -> asyncio.Future[bool]:
        return asyncio.shield(fence)


async def test_two_trackers_as_one_are_caught_up_only_once_both_fences_are_answered() -> None:
    first, second = Tracker(), Tracker()
    both = BothCaught(first, second)  # type: ignore[arg-type]  # fakes of the trackers: fences answered here

    caught = asyncio.ensure_future(both.caught_up())
    await asyncio.sleep(0)
    assert (len(first.fences), len(second.fences)) == (1, 1)  # both PINGs asked for at once
    first.fences[0].set_result(True)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not caught.done()  # the second store may still hold a change back

    second.fences[0].set_result(True)
    assert await caught is True


async def test_two_trackers_as_one_are_not_caught_up_when_either_fence_fails() -> None:
    for failing in (0, 1):
        trackers = (Tracker(), Tracker())
        both = BothCaught(*trackers)  # type: ignore[arg-type]

        caught = asyncio.ensure_future(both.caught_up())
        await asyncio.sleep(0)
        for index, tracker in enumerate(trackers):
            tracker.fences[0].set_result(index != failing)

        assert await caught is False
