"""Periodic dependency probes that drive per-dependency health, as an async context manager."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

import structlog

from context_service.adapters.periodic import Periodic
from context_service.ports.errors import PortError
from context_service.ports.health import HealthProbe

log = structlog.get_logger()
StatusSetter = Callable[[str, bool], Awaitable[None]]


class HealthMonitor:
    """Pings every probe each `interval` seconds and reports changes (one readiness log line per change).

    Entering runs one round before returning, so the first status is known before the server reports it.
    """

    def __init__(
        self,
        *,
        probes: Sequence[HealthProbe],
        set_status: StatusSetter,
        interval: float,
        timeout: float,
    ) -> None:
        """`set_status(name, serving)` is e.g. `GrpcServer.set_dependency`; `timeout` bounds each probe (the
        service's store timeout)."""
        self._probes = tuple(probes)
        self._set_status = set_status
        self._interval = interval
        self._timeout = timeout
        self._status: dict[str, bool] = {}
        self._loop = Periodic(self.check, interval=interval, name="health-monitor", pause_first=True)

    @property
    def status(self) -> dict[str, bool]:
        """The last known status of each dependency, by name."""
        return dict(self._status)

    async def __aenter__(self) -> Self:
        """Probe once, then keep probing in the background."""
        await self.check()
        self._loop.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop probing (see `Periodic` for why a cancel alone is not enough)."""
        await self._loop.stop()

    async def check(self) -> None:
        """Ping every probe concurrently and report each status that changed."""
        results = await asyncio.gather(*(self._ping(probe) for probe in self._probes))
        for probe, (serving, reason) in zip(self._probes, results, strict=True):
            if self._status.get(probe.name) == serving:
                continue
            self._status[probe.name] = serving
            await self._set_status(probe.name, serving)
            if serving:
                log.info("dependency_ready", dependency=probe.name)
            else:
                log.warning("dependency_unavailable", dependency=probe.name, reason=reason)

    async def _ping(self, probe: HealthProbe) -> tuple[bool, str]:
        """(serving, reason); a probe that hangs past the timeout counts as unavailable."""
        try:
            async with asyncio.timeout(self._timeout):
                await probe.ping()
        except TimeoutError:
            return False, "timeout"
        except PortError as exc:
            return False, type(exc).__name__
        except Exception as exc:  # a probe bug must not stop the monitor; report it as unavailable
            log.exception("health_probe_failed", dependency=probe.name)
            return False, type(exc).__name__
        return True, ""
