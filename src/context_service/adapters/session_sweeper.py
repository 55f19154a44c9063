"""The session sweeper: a background task expiring due entries (EXPIRE within a second) and idle sessions."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import structlog

from context_service.adapters.periodic import Periodic
from context_service.application.session_watch import SweepSessions
from context_service.observability.metrics import SESSION_SWEPT
from context_service.ports.errors import PortError

log = structlog.get_logger()


class SessionSweeper:
    """Runs one sweep every `interval` seconds while entered; a failed pass is logged and retried."""

    def __init__(self, *, sweep: SweepSessions, interval: float = 0.25) -> None:
        self._sweep = sweep
        self._loop = Periodic(self._pass, interval=interval, name="session-sweeper")

    async def __aenter__(self) -> Self:
        """Start sweeping."""
        self._loop.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop sweeping (see `Periodic` for why a cancel alone is not enough)."""
        await self._loop.stop()

    async def _pass(self) -> None:
        try:
            removed = await self._sweep.execute()
        except PortError as exc:
            log.warning("session_sweep_failed", error=type(exc).__name__)
            return
        if removed:
            SESSION_SWEPT.inc(removed)
