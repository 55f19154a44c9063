"""One trace spans gRPC → store calls → a published event → its next consumer, through NATS headers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.grpc.interceptors import TracingInterceptor
from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats.client import envelope_event
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.envelope import MSG_ID_HEADER, encode_envelope
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.adapters.nats.runtime import Messaging
from context_service.adapters.policy_file import load_policy
from context_service.adapters.system import SystemClock
from context_service.bootstrap import open_adapters, wire
from context_service.config import FalkorSettings, KvSettings, NatsSettings, Settings, ValkeySettings
from context_service.local_servers import LocalServer
from context_service.observability.logging import merge_bound_fields
from context_service.observability.tracing import extract
from context_service.ports.events import OutboundEvent
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc
from tests.e2e.builders import change, update_request
from tests.integration.nats.support import FAST, FlakyGraph, Ids, running_app, stream_messages
from tests.support.spans import hex_id, in_trace, named, named_by, parent_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
UPDATED = "context.events.updated"
PROJECT_CREATED = "planning.project.created"
UPDATE_SPAN = "fleet.context.v1.ContextService/UpdateContext"
MILESTONE = {"event_type": "review", "description": "Design review passed"}


@dataclass(frozen=True)
class Caller:
    """A remote parent span: the trace a fleet service started before calling us."""

    trace_id: str
    span_id: str

    @classmethod
    def new(cls) -> Caller:
        """A fresh trace, so a test's spans are told apart from any other spans of the process."""
        return cls(uuid.uuid4().hex, uuid.uuid4().hex[:16])

    @property
    def traceparent(self) -> str:
        """The W3C header naming this span, sampled."""
        return f"00-{self.trace_id}-{self.span_id}-01"


@dataclass(frozen=True)
class Traced:
    """The service on FalkorDB, Valkey and NATS with the tracing interceptor, and a stub to call it."""

    stub: context_pb2_grpc.ContextServiceStub
    ids: Ids


@pytest.fixture
async def service(nats_url: str, falkordb: LocalServer, valkey: LocalServer) -> AsyncIterator[Traced]:
    """Stores (a graph and key namespace of this test), messaging and gRPC with the tracing interceptor."""
    ids = Ids.new()
    settings = Settings(
        GRAPH_BACKEND="falkordb",
        falkordb=FalkorSettings(FALKORDB_URL=falkordb.url, FALKORDB_GRAPH=f"tracing-{ids.run}"),
        valkey=ValkeySettings(VALKEY_URL=valkey.url),
        kv=KvSettings(KV_BACKEND="valkey", KV_KEY_PREFIX=f"tracing-{ids.run}:"),
        nats=NatsSettings(NATS_URL=nats_url),
    )
    async with open_adapters(settings) as adapters:
        assert isinstance(adapters.publisher, OutboxPublisher)
        assert isinstance(adapters.graph, FalkorGraph)
        container = wire(adapters, load_policy())
        messaging = Messaging(
            settings=settings.nats,
            use_cases=container.use_cases,
            kv=adapters.kv,
            publisher=adapters.publisher,
            consumer_settings=FAST,
            startup_timeout=5.0,
            reconnect_wait=0.1,
            relay_interval=0.2,
        )
        server = GrpcServer(
            use_cases=container.use_cases,
            host="127.0.0.1",
            port=0,
            grace_seconds=1,
            interceptors=[TracingInterceptor()],
        )
        try:
            async with messaging, server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                yield Traced(context_pb2_grpc.ContextServiceStub(channel), ids)
        finally:
            await adapters.graph.drop()


async def updated_event_of(nc: Client, story_id: str) -> Msg:
    """The context.events.updated message announcing a change of `story_id` (waits for it, bounded)."""
    found: list[Msg] = []

    async def announced() -> bool:
        found[:] = [m for m in await stream_messages(nc, UPDATED) if story_id.encode() in m.data]
        return bool(found)

    await eventually(announced)
    return found[0]


async def publish_traced(nc: Client, subject: str, payload: dict[str, Any], key: str, caller: Caller) -> None:
    """Publish an enveloped event as a fleet service inside `caller`'s span would."""
    event = envelope_event(subject, payload, idempotency_key=key, correlation_id=f"corr-{key}")
    headers = {MSG_ID_HEADER: key, "traceparent": caller.traceparent}
    data = encode_envelope(event, now_ms=SystemClock().now_ms())
    await nc.jetstream().publish(subject, data, headers=headers)


def project(project_id: str) -> dict[str, Any]:
    """A planning.project.created payload."""
    return {
        "project_id": project_id,
        "name": "Shop",
        "description": "Sell things",
        "status": "active",
        "owner": "ana",
        "created_at_ms": 1,
    }


async def test_one_trace_spans_the_rpc_its_store_calls_the_published_event_and_its_consumer(
    spans: InMemorySpanExporter, service: Traced, nc: Client
) -> None:
    # Arrange
    caller, story_id = Caller.new(), service.ids.story
    await service.stub.CreateStory(pb.CreateStoryRequest(story_id=story_id, title="Pay by card"))
    request = update_request(change("CREATE", "MILESTONE", "M-1", MILESTONE), story_id=story_id)

    # Act
    await service.stub.UpdateContext(request, metadata=(("traceparent", caller.traceparent),))
    message = await updated_event_of(nc, story_id)
    tracer = trace.get_tracer("fleet.next-consumer")
    with tracer.start_as_current_span(
        f"process {UPDATED}", context=extract(message.headers), kind=trace.SpanKind.CONSUMER
    ):
        pass

    # Assert
    done = list(spans.get_finished_spans())
    [server] = named(done, UPDATE_SPAN)
    [producer] = named(done, f"publish {UPDATED}")
    [next_consumer] = named(done, f"process {UPDATED}")
    server_id = hex_id(server.context.span_id, 16)
    stores = [s for s in done if s.name.startswith("falkordb ") and parent_of(s) == server_id]
    assert server.kind is trace.SpanKind.SERVER
    assert parent_of(server) == caller.span_id
    assert "falkordb commit" in {s.name for s in stores}
    assert {s.kind for s in stores} == {trace.SpanKind.CLIENT}
    assert producer.kind is trace.SpanKind.PRODUCER
    assert parent_of(producer) == server_id
    assert named_by(message) == (caller.trace_id, hex_id(producer.context.span_id, 16))
    assert parent_of(next_consumer) == hex_id(producer.context.span_id, 16)
    assert {hex_id(s.context.trace_id, 32) for s in [server, *stores, producer, next_consumer]} == {
        caller.trace_id
    }


async def test_an_inbound_event_with_a_traceparent_is_processed_in_a_consumer_span_of_that_trace(
    spans: InMemorySpanExporter, service: Traced, nc: Client
) -> None:
    # Arrange
    caller, project_id = Caller.new(), service.ids.project

    # Act
    await publish_traced(nc, PROJECT_CREATED, project(project_id), f"project-{service.ids.run}", caller)
    await eventually(lambda: finished(spans, caller.trace_id, f"process {PROJECT_CREATED}"))

    # Assert
    traced = in_trace(spans, caller.trace_id)
    [consumer] = named(traced, f"process {PROJECT_CREATED}")
    stores = [s for s in traced if (s.attributes or {}).get("db.system") == "falkordb"]
    assert consumer.kind is trace.SpanKind.CONSUMER
    assert parent_of(consumer) == caller.span_id
    assert dict(consumer.attributes or {}) == {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": PROJECT_CREATED,
        "messaging.consumer.group.name": "context-planning-project-created",
        "context.message.delivery": 1,
        "context.message.outcome": "processed",
    }
    assert "falkordb commit" in {s.name for s in stores}
    assert {parent_of(s) for s in stores} == {hex_id(consumer.context.span_id, 16)}


async def test_the_canonical_line_of_a_consumed_message_carries_its_trace_id(
    spans: InMemorySpanExporter, service: Traced, nc: Client
) -> None:
    # Arrange
    caller, project_id = Caller.new(), service.ids.project

    # Act
    with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
        await publish_traced(nc, PROJECT_CREATED, project(project_id), f"project-{service.ids.run}", caller)
        await eventually(lambda: finished(spans, caller.trace_id, f"process {PROJECT_CREATED}"))

    # Assert
    [line] = [  # a redelivery after ack_wait under load writes a line of its own
        e
        for e in entries
        if e["event"] == "nats_message" and e["story_id"] == project_id and e["delivery"] == 1
    ]
    assert (line["outcome"], line["trace_id"]) == ("processed", caller.trace_id)


async def test_an_event_recorded_while_disconnected_is_relayed_later_in_the_trace_that_recorded_it(
    spans: InMemorySpanExporter, nats_url: str, nc: Client
) -> None:
    # Arrange
    ids = Ids.new()
    publisher = OutboxPublisher(kv=InMemoryKeyValueStore(), clock=SystemClock())
    event = OutboundEvent(
        subject=UPDATED,
        event_type="context.updated",
        payload={"story_id": ids.story, "version": 1},
        idempotency_key=f"context.updated:{ids.story}:v1",
        correlation_id=f"corr-{ids.run}",
    )
    with trace.get_tracer("fleet.caller").start_as_current_span("rpc", kind=trace.SpanKind.SERVER) as rpc:
        await publisher.publish(event)  # no connection yet: recorded in the outbox only
    recorded = await publisher.pending()

    # Act
    async with NatsConnection(settings=NatsSettings(NATS_URL=nats_url), startup_timeout=5.0) as connection:
        publisher.attach(connection)
        relayed = await publisher.flush()  # one pass of the relay, outside any span
    message = await updated_event_of(nc, ids.story)

    # Assert
    trace_id = hex_id(rpc.get_span_context().trace_id, 32)
    [producer] = named(in_trace(spans, trace_id), f"publish {UPDATED}")
    assert (recorded, relayed) == (1, 1)
    assert parent_of(producer) == hex_id(rpc.get_span_context().span_id, 16)
    assert named_by(message) == (trace_id, hex_id(producer.context.span_id, 16))


async def test_a_message_the_service_refuses_ends_its_span_dead_lettered_without_marking_it_failed(
    spans: InMemorySpanExporter, nats_url: str, nc: Client
) -> None:
    # Arrange
    caller, ids = Caller.new(), Ids.new()
    invalid = {**project(ids.project), "name": None}  # a required field missing: the sender's fault

    # Act
    async with running_app(nats_url):
        await publish_traced(nc, PROJECT_CREATED, invalid, f"project-{ids.run}", caller)
        await eventually(lambda: finished(spans, caller.trace_id, f"process {PROJECT_CREATED}"))

    # Assert
    [consumer] = named(in_trace(spans, caller.trace_id), f"process {PROJECT_CREATED}")
    attributes = consumer.attributes or {}
    assert (attributes["context.message.outcome"], attributes["error.type"]) == (
        "dead_lettered",
        "INVALID_ARGUMENT",
    )
    assert consumer.status.status_code is trace.StatusCode.UNSET


async def test_a_message_that_meets_a_store_outage_ends_its_span_as_an_error_and_is_retried(
    spans: InMemorySpanExporter, nats_url: str, nc: Client
) -> None:
    # Arrange
    caller, ids, graph = Caller.new(), Ids.new(), FlakyGraph()
    graph.down = True

    # Act
    async with running_app(nats_url, graph=graph):
        await publish_traced(nc, PROJECT_CREATED, project(ids.project), f"project-{ids.run}", caller)
        await eventually(lambda: finished(spans, caller.trace_id, f"process {PROJECT_CREATED}"))

    # Assert
    first = next(
        s
        for s in named(in_trace(spans, caller.trace_id), f"process {PROJECT_CREATED}")
        if (s.attributes or {})["context.message.delivery"] == 1
    )
    attributes = first.attributes or {}
    assert (attributes["context.message.outcome"], attributes["error.type"]) == ("retry", "UNAVAILABLE")
    assert (first.status.status_code, first.status.description) == (trace.StatusCode.ERROR, "UNAVAILABLE")


async def finished(spans: InMemorySpanExporter, trace_id: str, name: str) -> bool:
    """Whether a span with this name has finished in the trace."""
    return bool(named(in_trace(spans, trace_id), name))
