"""A connection opened once however many callers ask for it at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedOpening(Generic[T]):
    """`open()` run by one task at a time: callers arriving while it runs wait for the same outcome, and a
    caller giving up (cancelled) leaves it to the others."""

    def __init__(self, open_: Callable[[], Awaitable[T]]) -> None:
        self._open = open_
        self._running: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        """The outcome of the opening under way, or of a new one."""
        if self._running is None:
            self._running = asyncio.ensure_future(self._open())
            self._running.add_done_callback(self._done)
        return await asyncio.shield(self._running)

    def _done(self, opening: asyncio.Future[T]) -> None:
        self._running = None
        if not opening.cancelled():
            opening.exception()  # its callers have it (or had it, and gave up)
