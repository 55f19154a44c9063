"""The session sweeper: a background task expiring due entries (EXPIRE within a second) and idle sessions."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

import structlog

from context_service.application.session_watch import SweepSessions
from context_service.observability.metrics import SESSION_SWEPT
from context_service.ports.errors import PortError

log = structlog.get_logger()


class SessionSweeper:
    """Runs one sweep every `interval` seconds while entered; a failed pass is logged and retried."""

    def __init__(self, *, sweep: SweepSessions, interval: float = 0.25) -> None:
        self._sweep = sweep
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Self:
        """Start sweeping."""
        self._task = asyncio.create_task(self._run(), name="session-sweeper")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop sweeping: the cancel ends a pass at once, the flag ends the loop even when the store's
        driver swallowed the cancel (redis-py's `asyncio.wait_for` around a send does on Python 3.11)."""
        if self._task is not None:
            self._stop.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                removed = await self._sweep.execute()
            except PortError as exc:
                log.warning("session_sweep_failed", error=type(exc).__name__)
                removed = 0
            if removed:
                SESSION_SWEPT.inc(removed)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stop.wait()
