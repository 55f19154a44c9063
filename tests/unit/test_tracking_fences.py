"""The fences of key tracking: which PING's answer a call may take.

A call must only be answered by a PING written after it arrived (the server answers a PING after every
change it made before it). One PING is out at a time; the calls arriving meanwhile share the next one.
"""

from __future__ import annotations

from context_service.adapters.valkey.tracking import Fences


class Wire:
    """Counts the PINGs written."""

    def __init__(self) -> None:
        self.pings = 0

    def send(self) -> None:
        self.pings += 1


async def test_a_lone_call_writes_one_ping_and_is_answered_by_it() -> None:
    wire = Wire()
    fences = Fences(wire.send)

    answer = fences.fence()
    fences.answered()

    assert wire.pings == 1
    assert await answer is True


async def test_calls_arriving_while_a_ping_is_out_wait_for_the_next_one_which_they_share() -> None:
    wire = Wire()
    fences = Fences(wire.send)
    first = fences.fence()
    later = [fences.fence(), fences.fence(), fences.fence()]

    fences.answered()  # the PING written before the later calls arrived

    assert first.done()
    assert not any(f.done() for f in later)
    assert wire.pings == 2  # the next one went out at once, for all of them
    fences.answered()
    assert [await f for f in later] == [True, True, True]
    assert wire.pings == 2  # nobody waits: no PING more


async def test_a_call_arriving_after_the_next_ping_went_out_waits_for_its_own() -> None:
    wire = Wire()
    fences = Fences(wire.send)
    fences.fence()
    second = fences.fence()
    fences.answered()  # the second's PING is written now

    third = fences.fence()
    fences.answered()

    assert await second is True
    assert not third.done()
    assert wire.pings == 3
    fences.answered()
    assert await third is True


async def test_when_no_answer_will_come_every_waiting_call_answers_false_and_the_next_call_starts_anew() -> (
    None
):
    wire = Wire()
    fences = Fences(wire.send)
    waiting = [fences.fence(), fences.fence()]

    fences.fail()
    fresh = fences.fence()

    assert [await f for f in waiting] == [False, False]
    assert not fresh.done()
    assert wire.pings == 2


async def test_an_answer_nobody_waits_for_changes_nothing() -> None:
    wire = Wire()
    fences = Fences(wire.send)

    fences.answered()  # e.g. a reply read after the calls gave up

    assert wire.pings == 0
    assert not fences.fence().done()
