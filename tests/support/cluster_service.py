"""The assembled service (bootstrap's `running`) on the session's Valkey Cluster, FalkorDB and NATS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from context_service.adapters.grpc.server import GrpcServer
from context_service.bootstrap import running
from context_service.config import (
    FalkorSettings,
    GrpcSettings,
    KvSettings,
    NatsSettings,
    ObservabilitySettings,
    Settings,
    StoreSettings,
    ValkeySettings,
)
from context_service.local_cluster import LocalCluster
from context_service.local_servers import LocalServer
from fleet.context.session.v1 import session_pb2_grpc
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc


def cluster_settings(
    cluster: LocalCluster, falkordb: LocalServer, nats: LocalServer, *, timeout: float = 1.0
) -> Settings:
    """Production settings on the cluster: FalkorDB graph of its own, Valkey KV, NATS on."""
    return Settings(
        GRAPH_BACKEND="falkordb",
        grpc=GrpcSettings(GRPC_HOST="127.0.0.1", GRPC_PORT=0, SHUTDOWN_GRACE_SECONDS=1),
        falkordb=FalkorSettings(FALKORDB_URL=falkordb.url, FALKORDB_GRAPH=f"cluster-{uuid.uuid4().hex}"),
        valkey=ValkeySettings(VALKEY_URL=cluster.url, VALKEY_CLUSTER=True),
        kv=KvSettings(KV_BACKEND="valkey"),
        nats=NatsSettings(NATS_URL=nats.url),
        observability=ObservabilitySettings(METRICS_ENABLED=False),
        stores=StoreSettings(STORE_TIMEOUT_SECONDS=timeout, HEALTH_CHECK_INTERVAL_SECONDS=0.2),
    )


@dataclass
class ClusterService:
    """A running service and a client for it."""

    stub: context_pb2_grpc.ContextServiceStub
    sessions: session_pb2_grpc.SessionContextServiceStub
    server: GrpcServer

    async def create_story(self, story_id: str) -> None:
        """CreateStory with a fixed title."""
        await self.stub.CreateStory(pb.CreateStoryRequest(story_id=story_id, title="Clustered story"))

    async def add_milestone(
        self, story_id: str, milestone_id: str, idempotency_key: str
    ) -> pb.UpdateContextResponse:
        """UpdateContext creating one milestone under an idempotency key."""
        change = pb.ContextChange(
            operation="CREATE",
            entity_type="MILESTONE",
            entity_id=milestone_id,
            payload='{"event_type": "checkpoint", "description": "reached"}',
        )
        request = pb.UpdateContextRequest(story_id=story_id, role="developer", changes=[change])
        return await self.stub.UpdateContext(request, metadata=(("idempotency-key", idempotency_key),))


@asynccontextmanager
async def service_on_cluster(settings: Settings) -> AsyncIterator[ClusterService]:
    """Start the whole service (stores, NATS consumers and relay, gRPC); stop it on exit."""
    async with (
        running(settings) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield ClusterService(
            context_pb2_grpc.ContextServiceStub(channel),
            session_pb2_grpc.SessionContextServiceStub(channel),
            server,
        )
