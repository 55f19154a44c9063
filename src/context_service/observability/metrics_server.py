"""The Prometheus scrape endpoint: /metrics of `REGISTRY` as an async context manager (`MetricsServer`), on
`start_endpoint`, which the supervisor of `serve --workers N` also serves its workers' values with.

`port=0` binds a free port (read the bound one from `.port`); `port=None` disables the endpoint. A worker of
`serve --workers N` serves none (its function-read gauges are written with `metrics.sample_gauges`).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from context_service.binding import PortTaken
from context_service.observability.metrics import REGISTRY

log = structlog.get_logger()


class Endpoint:
    """A /metrics endpoint served from a daemon thread (`start_endpoint`), until `stop`."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def stop(self) -> None:
        """Stop serving and release the port (blocks up to half a second: the serve loop's next poll)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_endpoint(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> Endpoint:
    """Serve `registry` at /metrics on `host`:`port` (0: a free port); PortTaken when it cannot bind."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise PortTaken(f"cannot bind the metrics port {host}:{port}: {exc.strerror or exc}") from None
    return Endpoint(server, thread)


class MetricsServer:
    """Serves /metrics of `REGISTRY` while the context is open."""

    def __init__(self, *, host: str = "0.0.0.0", port: int | None = 9090) -> None:
        self._host = host
        self._requested = port
        self._endpoint: Endpoint | None = None
        self.port: int | None = None

    async def __aenter__(self) -> Self:
        """Bind and start serving (nothing when disabled)."""
        if self._requested is None:
            log.info("metrics_disabled")
            return self
        self._endpoint = start_endpoint(self._host, self._requested)
        self.port = self._endpoint.port
        log.info("metrics_started", host=self._host, port=self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving and release the port."""
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            return
        await asyncio.to_thread(endpoint.stop)  # keep the event loop free meanwhile
        log.info("metrics_stopped")
