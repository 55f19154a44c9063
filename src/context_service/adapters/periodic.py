"""A step run every `interval` seconds in a background task, stopped by a flag as well as a cancel.

A cancel alone is not enough to stop such a loop: a store driver may swallow it (redis-py's
`asyncio.wait_for` around a socket send does on Python 3.11 when the send completes in the same loop step),
and the loop would go on forever, hanging shutdown. The flag ends the loop at its next pause whatever the
step did with the cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Periodic:
    """Runs `step` every `interval` s from `start()` to `stop()` (`pause_first`: wait before the first)."""

    def __init__(
        self, step: Callable[[], Awaitable[None]], *, interval: float, name: str, pause_first: bool = False
    ) -> None:
        self._step = step
        self._interval = interval
        self._name = name
        self._pause_first = pause_first
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background task."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """End the current step (cancel) and the loop (flag), and wait for the task."""
        if self._task is None:
            return
        self._stopping.set()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        if self._pause_first:
            await self._pause()
        while not self._stopping.is_set():
            await self._step()
            await self._pause()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._interval):
                await self._stopping.wait()
