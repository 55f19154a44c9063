"""Prometheus metrics scraped over HTTP after real RPCs: counts and latency buckets by method and code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from context_service.adapters.grpc.interceptors import MetricsInterceptor
from context_service.observability.metrics import LATENCY_BUCKETS, count_tasks_of, record_cache, store_call
from context_service.observability.metrics_server import MetricsServer
from context_service.ports.errors import StoreUnavailable
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import change, create_story, update
from tests.support.harness import Service, running_service
from tests.support.metrics import Samples, samples_at
from tests.support.waiting import eventually

MILESTONE = {"event_type": "review", "description": "Design review passed"}


@pytest.fixture(scope="module")
async def metrics() -> AsyncIterator[MetricsServer]:
    """One /metrics endpoint on a free loopback port for the module."""
    async with MetricsServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
async def measured() -> AsyncIterator[Service]:
    """A service whose RPCs go through the metrics interceptor."""
    async with running_service(interceptors=[MetricsInterceptor()]) as service:
        yield service


async def scrape(server: MetricsServer) -> Samples:
    """Every sample of the /metrics page, keyed by (name, labels)."""
    assert server.port is not None
    return await asyncio.to_thread(samples_at, server.port)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one sample grew between two scrapes (absent counts as zero)."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def status_of(call: object) -> grpc.StatusCode:
    """The status code a call ended with."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def scripted_run(service: Service) -> list[grpc.StatusCode]:
    """Two good reads, a missing story, an invalid id, one update and a health check."""
    await create_story(service, "STORY-METRICS")
    read = pb.GetContextRequest(story_id="STORY-METRICS", role="developer", phase="BUILD")
    health = health_pb2_grpc.HealthStub(service.channel)
    return [
        await status_of(service.stub.GetContext(read)),
        await status_of(service.stub.GetContext(read)),
        await status_of(
            service.stub.GetContext(pb.GetContextRequest(story_id="NOPE", role="developer", phase="BUILD"))
        ),
        await status_of(service.stub.CreateStory(pb.CreateStoryRequest(story_id=" ", title="x"))),
        await status_of(
            update(service, change("CREATE", "MILESTONE", "M-1", MILESTONE), story_id="STORY-METRICS")
        ),
        await status_of(health.Check(health_pb2.HealthCheckRequest(service=""))),
    ]


async def test_rpc_counts_are_scraped_by_method_and_code(metrics: MetricsServer, measured: Service) -> None:
    before = await scrape(metrics)

    codes = await scripted_run(measured)
    after = await scrape(metrics)

    assert [code.name for code in codes] == ["OK", "OK", "NOT_FOUND", "INVALID_ARGUMENT", "OK", "OK"]
    counted = {
        (method, code): delta(before, after, "context_grpc_requests_total", method=method, code=code)
        for method, code in [
            ("CreateStory", "OK"),
            ("GetContext", "OK"),
            ("GetContext", "NOT_FOUND"),
            ("CreateStory", "INVALID_ARGUMENT"),
            ("UpdateContext", "OK"),
            ("Check", "OK"),
        ]
    }
    assert counted == {
        ("CreateStory", "OK"): 1,
        ("GetContext", "OK"): 2,
        ("GetContext", "NOT_FOUND"): 1,
        ("CreateStory", "INVALID_ARGUMENT"): 1,
        ("UpdateContext", "OK"): 1,
        ("Check", "OK"): 1,
    }


async def test_rpc_latency_is_a_histogram_with_the_shared_buckets(
    metrics: MetricsServer, measured: Service
) -> None:
    before = await scrape(metrics)

    await scripted_run(measured)
    after = await scrape(metrics)

    name = "context_grpc_request_duration_seconds"
    labels = {"method": "GetContext", "code": "OK"}
    bounds = {
        dict(key[1])["le"]
        for key in after
        if key[0] == f"{name}_bucket" and labels.items() <= dict(key[1]).items()
    }
    assert bounds == {*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"}
    assert delta(before, after, f"{name}_bucket", **labels, le="+Inf") == 2
    assert delta(before, after, f"{name}_count", **labels) == 2
    assert delta(before, after, f"{name}_count", method="GetContext", code="NOT_FOUND") == 1
    assert delta(before, after, f"{name}_sum", **labels) > 0


async def test_streaming_health_and_reflection_calls_are_measured_too(
    metrics: MetricsServer, measured: Service
) -> None:
    before = await scrape(metrics)
    reflection = reflection_pb2_grpc.ServerReflectionStub(measured.channel)
    watch = health_pb2_grpc.HealthStub(measured.channel).Watch(health_pb2.HealthCheckRequest(service=""))

    async for _ in reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    ):
        pass
    await watch.read()
    watch.cancel()
    after = await scrape(metrics)

    assert delta(before, after, "context_grpc_requests_total", method="ServerReflectionInfo", code="OK") == 1
    await eventually_counted(metrics, before, method="Watch", code="CANCELLED")


async def eventually_counted(server: MetricsServer, before: Samples, **labels: str) -> None:
    """Scrape until the call with these labels has been counted once."""

    async def counted() -> bool:
        return delta(before, await scrape(server), "context_grpc_requests_total", **labels) == 1

    await eventually(counted, within=5, what=f"{labels} counted once")


async def test_no_request_stays_in_flight_after_the_calls_return(
    metrics: MetricsServer, measured: Service
) -> None:
    await scripted_run(measured)

    after = await scrape(metrics)

    in_flight = {
        dict(k[1])["method"]: v for k, v in after.items() if k[0] == "context_grpc_in_flight_requests"
    }
    assert in_flight["GetContext"] == 0
    assert in_flight["UpdateContext"] == 0


async def test_cache_hits_and_misses_are_counted_by_cache(metrics: MetricsServer) -> None:
    before = await scrape(metrics)

    record_cache("rendered-context", hit=True)
    record_cache("rendered-context", hit=True)
    record_cache("rendered-context", hit=False)
    after = await scrape(metrics)

    name = "context_cache_requests_total"
    assert delta(before, after, name, cache="rendered-context", result="hit") == 2
    assert delta(before, after, name, cache="rendered-context", result="miss") == 1


async def test_store_calls_are_timed_and_failures_counted_by_error_class(metrics: MetricsServer) -> None:
    before = await scrape(metrics)

    async with store_call("falkordb", "load_story_graph"):
        pass
    with pytest.raises(StoreUnavailable):
        async with store_call("falkordb", "load_story_graph"):
            raise StoreUnavailable("connection refused")
    after = await scrape(metrics)

    labels = {"backend": "falkordb", "operation": "load_story_graph"}
    assert delta(before, after, "context_store_call_seconds_count", **labels) == 2
    assert delta(before, after, "context_store_errors_total", **labels, error="StoreUnavailable") == 1


async def test_a_metrics_server_without_a_port_is_disabled() -> None:
    async with MetricsServer(host="127.0.0.1", port=None) as server:
        assert server.port is None


async def test_the_event_loops_unfinished_tasks_are_counted_at_each_scrape() -> None:
    key = ("context_event_loop_tasks", frozenset[tuple[str, str]]())
    count_tasks_of(asyncio.get_running_loop())
    try:
        async with MetricsServer(host="127.0.0.1", port=0) as server:
            before = await scrape(server)
            release = asyncio.Event()
            waiting = [asyncio.create_task(release.wait()) for _ in range(25)]
            during = await scrape(server)
            release.set()
            await asyncio.gather(*waiting)
            after = await scrape(server)
    finally:
        count_tasks_of(None)  # no later test reads this test's closed loop

    assert during[key] - before[key] >= 25
    assert during[key] - after[key] >= 25
