"""The assembled service on an in-process grpc.aio server (port 0) with the real generated stub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.policy_file import load_policy
from context_service.bootstrap import Adapters, Container, PlanningStore, memory_adapters, wire
from context_service.config import SessionSettings
from context_service.ports.system import Clock, IdGenerator
from fleet.context.admin.v1 import admin_pb2_grpc
from fleet.context.session.v1 import session_pb2_grpc
from fleet.context.v1 import context_pb2_grpc
from tests.support.fakes import FixedClock, SequentialIds


@dataclass
class Service:
    """A running service and a client for it."""

    stub: context_pb2_grpc.ContextServiceStub
    channel: grpc.aio.Channel
    container: Container
    server: GrpcServer
    admin: admin_pb2_grpc.ContextAdminServiceStub

    @property
    def server_address(self) -> str:
        """host:port of the running server (for tests that open channels of their own)."""
        return f"127.0.0.1:{self.server.port}"

    @property
    def sessions(self) -> session_pb2_grpc.SessionContextServiceStub:
        """A stub of fleet.context.session.v1 on the same channel."""
        return session_pb2_grpc.SessionContextServiceStub(self.channel)

    @property
    def adapters(self) -> Adapters:
        """The in-memory adapters behind the service."""
        return self.container.adapters

    @property
    def graph(self) -> InMemoryGraph:
        """The in-memory graph store."""
        graph = self.adapters.graph
        assert isinstance(graph, InMemoryGraph)
        return graph

    @property
    def planning(self) -> InMemoryPlanningStore:
        """The in-memory planning read-models (seed drafts, summaries, planning events here)."""
        planning = self.adapters.planning
        assert isinstance(planning, InMemoryPlanningStore)
        return planning

    @property
    def planning_store(self) -> PlanningStore:
        """The planning read-models, whichever backend holds them."""
        return self.adapters.planning

    @property
    def events(self) -> InMemoryEventPublisher:
        """Everything the service published."""
        publisher = self.adapters.publisher
        assert isinstance(publisher, InMemoryEventPublisher)
        return publisher


@asynccontextmanager
async def running_service(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    graph: InMemoryGraph | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
    channel_credentials: grpc.ChannelCredentials | None = None,
    max_concurrent_rpcs: int | None = None,
    drain_quiet_seconds: float = 0.0,
    adapters: Adapters | None = None,
    sessions: SessionSettings | None = None,
) -> AsyncIterator[Service]:
    """Start the service on 127.0.0.1:0 (in-memory backend, a graph fake, or `adapters`); stop it on exit.

    With `credentials` the server speaks TLS and the client channel uses `channel_credentials`. Shutdown
    does not wait for arrivals to go quiet unless asked: tests stop the server right after their last call.
    """
    if adapters is None:
        adapters = memory_adapters(
            graph=graph, clock=clock or FixedClock(step_ms=1), ids=ids or SequentialIds()
        )
    container = wire(adapters, load_policy(), sessions=sessions)
    server = GrpcServer(
        use_cases=container.use_cases,
        sessions=container.sessions,
        host="127.0.0.1",
        port=0,
        grace_seconds=1,
        interceptors=interceptors,
        credentials=credentials,
        max_concurrent_rpcs=max_concurrent_rpcs,
        drain_quiet_seconds=drain_quiet_seconds,
    )
    async with server, _channel(f"127.0.0.1:{server.port}", channel_credentials) as channel:
        stub = context_pb2_grpc.ContextServiceStub(channel)
        yield Service(stub, channel, container, server, admin_pb2_grpc.ContextAdminServiceStub(channel))


def _channel(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    """An insecure channel, or a TLS one when credentials are given."""
    if credentials is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, credentials)
