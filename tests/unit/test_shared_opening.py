"""A connection opened once for every caller asking at the same time (`SharedOpening`)."""

from __future__ import annotations

import asyncio

from context_service.adapters.valkey.opening import SharedOpening


class Opener:
    """Counts openings; each waits for `gate`, then answers its number or raises when `fail` is set."""

    def __init__(self) -> None:
        self.count = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def __call__(self) -> int:
        self.count += 1
        number = self.count
        await self.gate.wait()
        if self.fail:
            raise ConnectionError(f"opening {number} failed")
        return number


async def test_callers_arriving_during_an_opening_share_it_and_a_later_caller_opens_again() -> None:
    # Arrange
    opener = Opener()
    opening = SharedOpening(opener)
    callers = [asyncio.ensure_future(opening()) for _ in range(5)]
    await asyncio.sleep(0)

    # Act
    opener.gate.set()
    shared = await asyncio.gather(*callers)
    later = await opening()

    # Assert
    assert shared == [1] * 5
    assert later == 2


async def test_a_caller_giving_up_leaves_the_opening_to_the_others() -> None:
    # Arrange
    opener = Opener()
    opening = SharedOpening(opener)
    leaving, staying = asyncio.ensure_future(opening()), asyncio.ensure_future(opening())
    await asyncio.sleep(0)

    # Act
    leaving.cancel()
    opener.gate.set()

    # Assert
    assert await staying == 1
    assert leaving.cancelled()
    assert opener.count == 1


async def test_a_failed_opening_fails_every_caller_waiting_and_the_next_call_tries_again() -> None:
    # Arrange
    opener = Opener()
    opener.fail = True
    opening = SharedOpening(opener)
    callers = [asyncio.ensure_future(opening()) for _ in range(3)]
    await asyncio.sleep(0)

    # Act
    opener.gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    opener.fail = False
    again = await opening()

    # Assert
    assert [str(o) for o in outcomes] == ["opening 1 failed"] * 3
    assert again == 2
    assert all(isinstance(o, ConnectionError) for o in outcomes)
