"""The gRPC server: ContextService, health and reflection on one port, as an async context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from context_service.adapters.grpc.servicer import ContextServicer
from context_service.application.services import UseCases
from fleet.context.v1 import context_pb2, context_pb2_grpc

log = structlog.get_logger()
SERVICE_NAME = context_pb2.DESCRIPTOR.services_by_name["ContextService"].full_name


class GrpcServer:
    """Starts on enter (health SERVING), stops gracefully on exit (NOT_SERVING first)."""

    def __init__(
        self,
        *,
        use_cases: UseCases,
        host: str = "0.0.0.0",
        port: int = 50054,
        max_message_bytes: int = 8 * 1024 * 1024,
        grace_seconds: float = 10.0,
    ) -> None:
        self._use_cases = use_cases
        self._address = f"{host}:{port}"
        self._max_message_bytes = max_message_bytes
        self._grace = grace_seconds
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def __aenter__(self) -> Self:
        """Bind, start, report SERVING."""
        options = [
            ("grpc.max_receive_message_length", self._max_message_bytes),
            ("grpc.max_send_message_length", self._max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=options)
        context_pb2_grpc.add_ContextServiceServicer_to_server(
            ContextServicer(use_cases=self._use_cases), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        self.port = server.add_insecure_port(self._address)
        await server.start()
        self._server = server
        await self.set_serving(True)
        log.info("grpc_started", address=self._address, port=self.port)
        return self

    async def set_serving(self, serving: bool) -> None:
        """Overall and ContextService health."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def wait(self) -> None:
        """Block until the server terminates."""
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """NOT_SERVING, stop accepting, let in-flight RPCs finish within the grace period."""
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(self._grace)
        self._server = None
        log.info("grpc_stopped")
