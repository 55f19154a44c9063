"""The soak's load process stops promptly on SIGTERM even while its seed step is still retrying."""

from __future__ import annotations

import asyncio

import pytest

from bench.load import _seeded_unless_stopped


async def test_a_stop_during_the_seed_cancels_it_and_reports_it_unfinished() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def endless_seed() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.01, stop.set)

    assert not await asyncio.wait_for(_seeded_unless_stopped(endless_seed(), stop), timeout=5)
    assert cancelled.is_set()


async def test_a_seed_that_finishes_first_is_reported_done() -> None:
    async def quick_seed() -> None:
        await asyncio.sleep(0)

    assert await _seeded_unless_stopped(quick_seed(), asyncio.Event())


async def test_a_seed_that_fails_fails_the_run() -> None:
    async def failing_seed() -> None:
        raise RuntimeError("store refused the story")

    with pytest.raises(RuntimeError, match="refused"):
        await _seeded_unless_stopped(failing_seed(), asyncio.Event())
