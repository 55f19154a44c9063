"""The Prometheus scrape endpoint (/metrics of a registry, by default `REGISTRY`) as an async context manager.

`port=0` binds a free port (read the bound one from `.port`); `port=None` disables the endpoint. A worker of
`serve --workers N` serves none: `sampled_gauges` writes its function-read gauges where the supervisor's
endpoint reads them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from context_service.observability.metrics import REGISTRY, sample_gauges

log = structlog.get_logger()
SAMPLE_SECONDS = 1.0


class MetricsServer:
    """Serves /metrics from a daemon thread while the context is open."""

    def __init__(
        self, *, host: str = "0.0.0.0", port: int | None = 9090, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._host = host
        self._registry = registry
        self._requested = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    async def __aenter__(self) -> Self:
        """Bind and start serving (nothing when disabled)."""
        if self._requested is None:
            log.info("metrics_disabled")
            return self
        self._server, self._thread = start_http_server(
            self._requested, addr=self._host, registry=self._registry
        )
        self.port = self._server.server_port
        log.info("metrics_started", host=self._host, port=self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        # shutdown() waits for the serve loop's next poll (up to half a second): keep the event loop free.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        await asyncio.to_thread(thread.join)
        log.info("metrics_stopped")


@asynccontextmanager
async def sampled_gauges(interval: float = SAMPLE_SECONDS) -> AsyncIterator[None]:
    """The function-read gauges (event-loop tasks, shared session readers) written every `interval` s while
    the block runs."""

    async def sample() -> None:
        while True:
            sample_gauges()
            await asyncio.sleep(interval)

    task = asyncio.create_task(sample(), name="sampled-gauges")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
