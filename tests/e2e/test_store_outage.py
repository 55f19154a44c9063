"""A store that stops while the service runs: UNAVAILABLE, never INTERNAL; health follows; it recovers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.adapters.grpc.server import DEPENDENCY_PREFIX, GrpcServer
from context_service.adapters.health_monitor import HealthMonitor
from context_service.application.create_story import StoryRequest
from context_service.bootstrap import build_container
from context_service.config import (
    FalkorSettings,
    KvSettings,
    Settings,
    StoreSettings,
    ValkeySettings,
)
from context_service.local_servers import LocalServer, falkordb_server, valkey_server
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
STORE_TIMEOUT_S = 1.0
CLIENT_DEADLINE_S = 15.0  # far above the store timeout: a hang would surface as DEADLINE_EXCEEDED


@dataclass
class Running:
    """The service on real FalkorDB and Valkey servers it does not own."""

    stub: context_pb2_grpc.ContextServiceStub
    health: health_pb2_grpc.HealthStub
    falkordb: LocalServer
    valkey: LocalServer


@asynccontextmanager
async def service_on_private_stores(tmp_path: Path) -> AsyncIterator[Running]:
    """Private persistent servers (so a restart keeps data), the container, gRPC and the health monitor."""
    falkordb = falkordb_server(tmp_path / "falkordb", persist=True).start()
    valkey = valkey_server(tmp_path / "valkey", persist=True).start()
    settings = Settings(
        GRAPH_BACKEND="falkordb",
        falkordb=FalkorSettings(FALKORDB_URL=falkordb.url, FALKORDB_GRAPH="outage"),
        valkey=ValkeySettings(VALKEY_URL=valkey.url),
        kv=KvSettings(KV_BACKEND="valkey"),
        stores=StoreSettings(STORE_TIMEOUT_SECONDS=STORE_TIMEOUT_S, HEALTH_CHECK_INTERVAL_SECONDS=0.2),
    )
    try:
        async with build_container(settings) as container:
            await container.use_cases.create_story.execute(
                StoryRequest("OUT-1", "Outage story", "survives restarts")
            )
            server = GrpcServer(use_cases=container.use_cases, host="127.0.0.1", port=0, grace_seconds=1)
            async with (
                server,
                HealthMonitor(
                    probes=container.adapters.probes,
                    set_status=server.set_dependency,
                    interval=0.2,
                    timeout=STORE_TIMEOUT_S,
                ),
                grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
            ):
                yield Running(
                    context_pb2_grpc.ContextServiceStub(channel),
                    health_pb2_grpc.HealthStub(channel),
                    falkordb,
                    valkey,
                )
    finally:
        falkordb.stop()
        valkey.stop()


async def status_of(running: Running, service: str) -> int:
    """The health status of one service name."""
    answer = await running.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(answer.status)


def read_story() -> pb.GetContextRequest:
    """A read that needs the graph and the planning read-models."""
    return pb.GetContextRequest(story_id="OUT-1", role="developer", phase="DESIGN")


async def test_a_stopped_graph_store_gives_unavailable_and_the_service_recovers_when_it_returns(
    tmp_path: Path,
) -> None:
    async with service_on_private_stores(tmp_path) as running:
        # Arrange: serving before the outage (a first probe may be slow on a busy machine)
        await eventually(lambda: _is(running, "", SERVING), what="overall SERVING")
        # Act
        running.falkordb.stop()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await running.stub.GetContext(read_story(), timeout=CLIENT_DEADLINE_S)
        await eventually(
            lambda: _is(running, DEPENDENCY_PREFIX + "graph", NOT_SERVING), what="graph NOT_SERVING"
        )
        overall_down = await status_of(running, "")
        running.falkordb.start()
        await eventually(lambda: _is(running, "", SERVING), what="overall SERVING again")
        recovered = await running.stub.GetContext(read_story(), timeout=CLIENT_DEADLINE_S)
        # Assert
        assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "redis" not in (failed.value.details() or "").lower()
        assert overall_down == NOT_SERVING
        assert "Outage story" in recovered.context


async def test_a_stopped_valkey_gives_unavailable_and_the_service_recovers_when_it_returns(
    tmp_path: Path,
) -> None:
    async with service_on_private_stores(tmp_path) as running:
        # Arrange: serving before the outage (a first probe may be slow on a busy machine)
        await eventually(lambda: _is(running, DEPENDENCY_PREFIX + "valkey", SERVING), what="valkey SERVING")
        # Act
        running.valkey.stop()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await running.stub.GetContext(read_story(), timeout=CLIENT_DEADLINE_S)
        await eventually(lambda: _is(running, "", NOT_SERVING), what="overall NOT_SERVING")
        graph_still_up = await status_of(running, DEPENDENCY_PREFIX + "graph")
        running.valkey.start()
        await eventually(lambda: _is(running, "", SERVING), what="overall SERVING again")
        recovered = await running.stub.GetContext(read_story(), timeout=CLIENT_DEADLINE_S)
        # Assert
        assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
        assert graph_still_up == SERVING
        assert "Outage story" in recovered.context


async def _is(running: Running, service: str, status: int) -> bool:
    return await status_of(running, service) == status
