"""The gRPC server: ContextService, SessionContextService, ContextAdminService, health and reflection.

Health service names: "", `fleet.context.v1.ContextService`, `fleet.context.admin.v1.ContextAdminService`
and (when served) `fleet.context.session.v1.SessionContextService` report the overall status (SERVING while
every dependency is serving and the server is not shutting down); each dependency has its own name,
`context-service.<name>` (e.g. `context-service.graph`), set through `set_dependency`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from context_service.adapters.grpc.admin_servicer import ContextAdminServicer
from context_service.adapters.grpc.admission import Admission
from context_service.adapters.grpc.interceptors import CallInterceptor, WrappingServer
from context_service.adapters.grpc.registration import add_context_service, add_service, add_session_service
from context_service.adapters.grpc.servicer import ContextServicer
from context_service.adapters.grpc.session_servicer import SessionServicer
from context_service.application.services import UseCases
from context_service.application.session_services import SessionUseCases
from context_service.binding import PortTaken
from fleet.context.admin.v1 import admin_pb2
from fleet.context.session.v1 import session_pb2
from fleet.context.v1 import context_pb2

log = structlog.get_logger()
SERVICE_NAME = context_pb2.DESCRIPTOR.services_by_name["ContextService"].full_name
ADMIN_SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["ContextAdminService"].full_name
SESSION_SERVICE_NAME = session_pb2.DESCRIPTOR.services_by_name["SessionContextService"].full_name
DEPENDENCY_PREFIX = "context-service."
# SERVING from start until shutdown whatever the stores do: a liveness probe must not restart pods that
# only wait for a database to come back.
LIVENESS = DEPENDENCY_PREFIX + "liveness"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcServer:
    """Starts on enter (health SERVING), stops gracefully on exit (NOT_SERVING first)."""

    def __init__(
        self,
        *,
        use_cases: UseCases,
        sessions: SessionUseCases | None = None,
        host: str = "0.0.0.0",
        port: int = 50054,
        max_message_bytes: int = 8 * 1024 * 1024,
        grace_seconds: float = 10.0,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        credentials: grpc.ServerCredentials | None = None,
        max_concurrent_rpcs: int | None = None,
        drain_quiet_seconds: float = 0.1,
        reuse_port: bool = False,
    ) -> None:
        """Interceptors run in the given order, then admission (concurrency limit, draining).

        `reuse_port`: bind with SO_REUSEPORT, beside the other workers of `serve --workers N` (otherwise a
        port another process holds fails the start).

        Every `CallInterceptor` given is folded with admission into one, applied where the handlers are
        registered (grpc runs no interceptor of its own per call); any other interceptor runs first, in grpc.
        """
        self._use_cases = use_cases
        self._sessions = sessions
        self._stopping = asyncio.Event()
        self._session_servicer: SessionServicer | None = None
        sessions_served = () if sessions is None else (SESSION_SERVICE_NAME,)
        self._services = (SERVICE_NAME, ADMIN_SERVICE_NAME, *sessions_served)
        self._address = f"{host}:{port}"
        self._max_message_bytes = max_message_bytes
        self._grace = grace_seconds
        self._credentials = credentials
        self._drain_quiet = drain_quiet_seconds
        self._reuse_port = reuse_port
        self.admission = Admission(limit=max_concurrent_rpcs)
        folded = CallInterceptor(admission=self.admission)
        others = []
        for interceptor in interceptors:
            if isinstance(interceptor, CallInterceptor):
                folded = folded.merged(interceptor)
            else:
                others.append(interceptor)
        self._interceptors = tuple(others)
        self._duties = folded
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._serving = True
        self._dependencies: dict[str, bool] = {}
        self._overall: bool | None = None
        self._shutting_down = False

    async def __aenter__(self) -> Self:
        """Bind, start, report the overall status (SERVING unless a dependency is down)."""
        options = [
            ("grpc.max_receive_message_length", self._max_message_bytes),
            ("grpc.max_send_message_length", self._max_message_bytes),
            ("grpc.so_reuseport", int(self._reuse_port)),
        ]
        server = grpc.aio.server(options=options, interceptors=self._interceptors or None)
        self._register(WrappingServer(server, self._duties))
        try:
            if self._credentials is None:
                self.port = server.add_insecure_port(self._address)
            else:
                self.port = server.add_secure_port(self._address, self._credentials)
        except RuntimeError:  # grpc says only that it failed
            raise PortTaken(
                f"cannot bind the gRPC port {self._address} (taken, or not an address of this host)"
            ) from None
        await server.start()
        self._server = server
        await self.health.set(LIVENESS, _SERVING)
        await self._publish()
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]  # "uvloop" or "asyncio"
        log.info(
            "grpc_started",
            address=self._address,
            port=self.port,
            tls=self._credentials is not None,
            event_loop=loop,
        )
        return self

    def _register(self, server: Any) -> None:
        """Every service on `server` (the wrapping view of the grpc server)."""
        add_context_service(ContextServicer(use_cases=self._use_cases), server)
        if self._sessions is not None:
            self._session_servicer = SessionServicer(use_cases=self._sessions, stopping=self._stopping)
            add_session_service(self._session_servicer, server)
        admin = ContextAdminServicer(use_cases=self._use_cases)
        add_service(admin, server, admin_pb2, "ContextAdminService")
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (
            *self._services,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        # What reflection.enable_server_reflection does on an aio server (the wrapping view is not one).
        servicer = reflection.aio.ReflectionServicer(names)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)

    async def set_serving(self, serving: bool) -> None:
        """Force the overall status down (False) or let it follow the dependencies again (True)."""
        self._serving = serving
        await self._publish()

    async def set_dependency(self, name: str, serving: bool) -> None:
        """Report one dependency (`context-service.<name>`) and recompute the overall status."""
        self._dependencies[name] = serving
        await self.health.set(DEPENDENCY_PREFIX + name, _SERVING if serving else _NOT_SERVING)
        await self._publish()

    async def _publish(self) -> None:
        """Overall ("" and each service) = serving flag, every dependency serving, not shutting down."""
        overall = self._serving and all(self._dependencies.values()) and not self._shutting_down
        for name in ("", *self._services):
            await self.health.set(name, _SERVING if overall else _NOT_SERVING)
        if overall != self._overall:
            down = sorted(name for name, ok in self._dependencies.items() if not ok)
            log.info("readiness", serving=overall, unavailable=down)
            self._overall = overall

    async def wait(self) -> None:
        """Block until the server terminates."""
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """NOT_SERVING, refuse new calls, let admitted ones finish within the grace period, then stop."""
        if self._server is None:
            return
        self._shutting_down = True
        # NOT_SERVING everywhere first, and frozen there: later set() calls are ignored by the servicer.
        await self.health.enter_graceful_shutdown()
        self._stopping.set()  # open watches end now: they never finish on their own
        if self._session_servicer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._grace):
                    await self._session_servicer.watches_closed()
        log.info("grpc_draining", grace_seconds=self._grace, in_flight=self.admission.active)
        started = time.monotonic()
        drained = await self.admission.drain(grace=self._grace, quiet=self._drain_quiet)
        remaining = max(0.0, self._grace - (time.monotonic() - started))
        await self._server.stop(remaining)
        self._server = None
        log.info("grpc_stopped", drained=drained)
