"""Per-dependency health over gRPC, driven by the health monitor's probes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.adapters.grpc.server import DEPENDENCY_PREFIX, LIVENESS, SERVICE_NAME
from context_service.adapters.health_monitor import HealthMonitor
from context_service.ports.errors import StoreTimeout, StoreUnavailable
from tests.support.harness import Service
from tests.support.waiting import eventually

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PROBE_TIMEOUT_S = 1.0  # the probes here answer at once unless a test makes them hang


class SwitchProbe:
    """A dependency probe (fake of the HealthProbe port) that fails, hangs or answers as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failure: Exception | None = None
        self.hangs = False

    async def ping(self) -> None:
        """Answer, raise the set failure, or never answer."""
        if self.hangs:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure


async def status(service: Service, name: str) -> int:
    """The health status of one service name, over gRPC."""
    health = health_pb2_grpc.HealthStub(service.channel)
    return int((await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)).status)


async def overall(service: Service) -> tuple[int, int]:
    """The overall status under "" and under the ContextService name."""
    return await status(service, ""), await status(service, SERVICE_NAME)


async def test_a_dependency_down_makes_the_service_not_serving(service: Service) -> None:
    await service.server.set_dependency("graph", True)
    await service.server.set_dependency("kv", False)

    assert await overall(service) == (NOT_SERVING, NOT_SERVING)
    assert await status(service, DEPENDENCY_PREFIX + "graph") == SERVING
    assert await status(service, DEPENDENCY_PREFIX + "kv") == NOT_SERVING


async def test_liveness_stays_serving_while_a_dependency_is_down(service: Service) -> None:
    await service.server.set_dependency("graph", False)

    assert await overall(service) == (NOT_SERVING, NOT_SERVING)
    assert await status(service, LIVENESS) == SERVING


async def test_the_service_serves_again_once_every_dependency_recovers(service: Service) -> None:
    await service.server.set_dependency("graph", False)
    await service.server.set_dependency("kv", False)
    await service.server.set_dependency("graph", True)
    partly = await overall(service)

    await service.server.set_dependency("kv", True)

    assert partly == (NOT_SERVING, NOT_SERVING)
    assert await overall(service) == (SERVING, SERVING)


async def test_an_unknown_dependency_name_is_not_found(service: Service) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await status(service, DEPENDENCY_PREFIX + "nats")

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("failure", "hangs"),
    [
        (StoreUnavailable("refused"), False),
        (StoreTimeout("slow"), False),
        (None, True),
        (ValueError("bug"), False),
    ],
    ids=["unavailable", "store-timeout", "hangs", "probe-bug"],
)
async def test_the_monitor_reports_a_failing_probe_as_not_serving(
    service: Service, failure: Exception | None, hangs: bool
) -> None:
    graph, kv = SwitchProbe("graph"), SwitchProbe("kv")
    graph.failure, graph.hangs = failure, hangs

    async with HealthMonitor(
        probes=[graph, kv], set_status=service.server.set_dependency, interval=3600, timeout=0.05
    ) as monitor:
        states = monitor.status

    assert states == {"graph": False, "kv": True}
    assert await status(service, DEPENDENCY_PREFIX + "graph") == NOT_SERVING
    assert await overall(service) == (NOT_SERVING, NOT_SERVING)


async def test_the_monitor_logs_one_readiness_line_per_change(service: Service) -> None:
    graph = SwitchProbe("graph")
    monitor = HealthMonitor(
        probes=[graph], set_status=service.server.set_dependency, interval=3600, timeout=PROBE_TIMEOUT_S
    )

    with structlog.testing.capture_logs() as entries:
        async with monitor:
            graph.failure = StoreUnavailable("refused")
            await monitor.check()
            await monitor.check()
            graph.failure = None
            await monitor.check()
            await monitor.check()

    changes = [(e["event"], e["dependency"]) for e in entries if e["event"].startswith("dependency_")]
    assert changes == [
        ("dependency_ready", "graph"),
        ("dependency_unavailable", "graph"),
        ("dependency_ready", "graph"),
    ]


async def test_the_monitor_keeps_probing_in_the_background(service: Service) -> None:
    graph = SwitchProbe("graph")

    async with HealthMonitor(
        probes=[graph], set_status=service.server.set_dependency, interval=0.01, timeout=PROBE_TIMEOUT_S
    ) as monitor:
        graph.failure = StoreUnavailable("refused")
        await eventually(lambda: monitor.status == {"graph": False})

    assert await overall(service) == (NOT_SERVING, NOT_SERVING)
