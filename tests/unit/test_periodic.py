"""A periodic background step stops on exit even when a step swallows its cancel."""

from __future__ import annotations

import asyncio

from context_service.adapters.periodic import Periodic


class SwallowingStep:
    """A step that waits in a "driver call" and, like redis-py on Python 3.11, loses the first cancel."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        self.running.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if self.runs > 1:
                raise


async def test_stop_ends_the_loop_although_the_running_step_swallowed_its_cancel() -> None:
    step = SwallowingStep()
    loop = Periodic(step, interval=0.01, name="test-periodic")
    loop.start()
    await asyncio.wait_for(step.running.wait(), 5)

    await asyncio.wait_for(loop.stop(), 5)

    assert step.runs == 1
