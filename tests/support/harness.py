"""The assembled service on an in-process grpc.aio server (port 0) with the real generated stub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.policy_file import load_policy
from context_service.bootstrap import Adapters, Container, memory_adapters, wire
from context_service.ports.system import Clock, IdGenerator
from fleet.context.v1 import context_pb2_grpc
from tests.support.fakes import FixedClock, SequentialIds


@dataclass
class Service:
    """A running service and a client for it."""

    stub: context_pb2_grpc.ContextServiceStub
    channel: grpc.aio.Channel
    container: Container
    server: GrpcServer

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
    def events(self) -> InMemoryEventPublisher:
        """Everything the service published."""
        publisher = self.adapters.publisher
        assert isinstance(publisher, InMemoryEventPublisher)
        return publisher


@asynccontextmanager
async def running_service(
    *, clock: Clock | None = None, ids: IdGenerator | None = None, graph: InMemoryGraph | None = None
) -> AsyncIterator[Service]:
    """Start the service on 127.0.0.1:0 over the in-memory backend (or a graph fake); stop it on exit."""
    adapters = memory_adapters(graph=graph, clock=clock or FixedClock(step_ms=1), ids=ids or SequentialIds())
    container = wire(adapters, load_policy())
    server = GrpcServer(use_cases=container.use_cases, host="127.0.0.1", port=0, grace_seconds=1)
    async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Service(context_pb2_grpc.ContextServiceStub(channel), channel, container, server)
