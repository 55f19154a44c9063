"""Under load: shedding past the concurrency limit, and graceful shutdown letting in-flight calls finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.adapters.grpc.interceptors import MetricsInterceptor
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.domain.model import StoryGraph
from context_service.observability.metrics import REGISTRY
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import create_story
from tests.support.harness import Service, running_service
from tests.support.waiting import eventually

READ = pb.GetContextRequest(story_id="STORY-LOGIN-42", role="developer", phase="BUILD")
# Two calls blocked at once ask about two stories: calls about one story share their store read.
STORIES = ("STORY-LOGIN-42", "STORY-LOGIN-43")
READS = [pb.GetContextRequest(story_id=story_id, role="developer", phase="BUILD") for story_id in STORIES]


class GatedGraph(InMemoryGraph):
    """An in-memory graph whose story reads (the one every context read makes) wait until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """Wait for the gate, then read."""
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        return await super().load_if_changed(story_id, seen)


async def create_stories(service: Service) -> None:
    """The stories of READS."""
    for story_id in STORIES:
        await create_story(service, story_id)


@pytest.fixture
async def limited() -> AsyncIterator[tuple[Service, GatedGraph]]:
    """A service allowing two concurrent calls, over a gated graph, with two reads blocked in it."""
    graph = GatedGraph()
    async with running_service(
        graph=graph, max_concurrent_rpcs=2, interceptors=[MetricsInterceptor()]
    ) as svc:
        await create_stories(svc)
        blocked = [asyncio.ensure_future(svc.stub.GetContext(read, timeout=10)) for read in READS]
        await eventually(lambda: graph.waiting == 2)
        yield svc, graph
        graph.gate.set()
        await asyncio.gather(*blocked, return_exceptions=True)


async def test_the_call_past_the_limit_is_resource_exhausted(limited: tuple[Service, GatedGraph]) -> None:
    service, _ = limited

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await service.stub.ValidateScope(pb.ValidateScopeRequest(role="developer", phase="BUILD"), timeout=5)

    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_health_answers_while_the_server_is_at_its_limit(limited: tuple[Service, GatedGraph]) -> None:
    service, _ = limited
    health = health_pb2_grpc.HealthStub(service.channel)

    response = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)

    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_in_flight_gauge_counts_the_blocked_calls(limited: tuple[Service, GatedGraph]) -> None:
    value = REGISTRY.get_sample_value("context_grpc_in_flight_requests", {"method": "GetContext"})

    assert value == 2


async def test_shed_calls_are_counted_under_resource_exhausted(limited: tuple[Service, GatedGraph]) -> None:
    service, _ = limited
    labels = {"method": "ValidateScope", "code": "RESOURCE_EXHAUSTED"}
    before = REGISTRY.get_sample_value("context_grpc_requests_total", labels) or 0.0

    with pytest.raises(grpc.aio.AioRpcError):
        await service.stub.ValidateScope(pb.ValidateScopeRequest(role="developer", phase="BUILD"), timeout=5)

    # The client may see the status before the server's side of the call has resumed to count it.
    await eventually(
        lambda: REGISTRY.get_sample_value("context_grpc_requests_total", labels) == before + 1,
        what="the shed call counted",
    )


async def test_calls_admitted_under_the_limit_complete_and_free_their_slots() -> None:
    graph = GatedGraph()
    async with running_service(graph=graph, max_concurrent_rpcs=2) as service:
        await create_stories(service)
        first = [asyncio.ensure_future(service.stub.GetContext(read, timeout=10)) for read in READS]
        await eventually(lambda: graph.waiting == 2)

        graph.gate.set()
        answered = await asyncio.gather(*first)
        later = await service.stub.GetContext(READ, timeout=10)

    assert all(response.context for response in [*answered, later])


# Graceful shutdown (in process; the subprocess under SIGTERM is in test_ops_shutdown.py)


async def test_shutdown_reports_not_serving_first_then_lets_the_in_flight_call_finish() -> None:
    graph = GatedGraph()
    async with running_service(graph=graph) as service:
        await create_story(service)
        watch = health_pb2_grpc.HealthStub(service.channel).Watch(health_pb2.HealthCheckRequest(service=""))
        before = await watch.read()
        in_flight = asyncio.ensure_future(service.stub.GetContext(READ, timeout=10))
        await eventually(lambda: graph.waiting == 1)

        # Begin the server's exit while the read is still blocked in the store.
        stopping = asyncio.ensure_future(service.server.__aexit__(None, None, None))
        during = await watch.read()
        watch.cancel()
        graph.gate.set()
        answered = await in_flight
        await stopping

    assert (before.status, during.status) == (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    assert answered.context


async def code_of(call: Awaitable[object]) -> grpc.StatusCode:
    """The status code a call ended with."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_calls_arriving_during_shutdown_are_refused_as_unavailable() -> None:
    graph = GatedGraph()
    scope = pb.ValidateScopeRequest(role="developer", phase="BUILD")
    async with running_service(graph=graph) as service:
        await create_story(service)
        in_flight = asyncio.ensure_future(service.stub.GetContext(READ, timeout=10))
        await eventually(lambda: graph.waiting == 1)
        stopping = asyncio.ensure_future(service.server.__aexit__(None, None, None))

        # Calls are served until the server stops accepting; from then on they are refused.
        codes = [await code_of(service.stub.ValidateScope(scope, timeout=5))]
        while codes[-1] is grpc.StatusCode.OK and len(codes) < 500:
            await asyncio.sleep(0.01)
            codes.append(await code_of(service.stub.ValidateScope(scope, timeout=5)))
        graph.gate.set()
        answered = await in_flight
        await stopping

    assert codes[-1] is grpc.StatusCode.UNAVAILABLE
    assert set(codes[:-1]) <= {grpc.StatusCode.OK}
    assert answered.context
