"""The session sweeper: a background task expiring due entries (EXPIRE within a second) and idle sessions."""

from __future__ import annotations

import asyncio
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

    async def __aenter__(self) -> Self:
        """Start sweeping."""
        self._task = asyncio.create_task(self._run(), name="session-sweeper")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                removed = await self._sweep.execute()
            except PortError as exc:
                log.warning("session_sweep_failed", error=type(exc).__name__)
                removed = 0
            if removed:
                SESSION_SWEPT.inc(removed)
            await asyncio.sleep(self._interval)
