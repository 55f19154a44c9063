"""Traces: a caller's traceparent parents the server span, store calls are its CLIENT children."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from context_service.adapters.grpc.interceptors import TracingInterceptor
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.config import ObservabilitySettings
from context_service.domain.mutations import CommitResult, WriteBatch
from context_service.observability.metrics import store_call
from context_service.observability.tracing import (
    OTLP_PACKAGE,
    TracingUnavailable,
    configure_tracing,
    current_trace_id,
    extract,
    inject,
    tracer_provider,
)
from context_service.ports.errors import StoreUnavailable
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import change, create_story, update_request
from tests.support.harness import Service, running_service
from tests.support.waiting import eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = (("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"),)
MILESTONE = {"event_type": "review", "description": "Design review passed"}
UPDATE_SPAN = "fleet.context.v1.ContextService/UpdateContext"


class TracedGraph(InMemoryGraph):
    """The in-memory graph with its commits wrapped in store_call, as a real store adapter's are."""

    async def commit(self, batch: WriteBatch) -> CommitResult:
        """Commit inside a store call."""
        async with store_call("memory", "commit"):
            return await super().commit(batch)


@pytest.fixture
async def traced() -> AsyncIterator[Service]:
    """A service with the tracing interceptor over a graph whose commits are store calls."""
    async with running_service(interceptors=[TracingInterceptor()], graph=TracedGraph()) as service:
        yield service


def named(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one finished span with this name."""
    found = [span for span in spans.get_finished_spans() if span.name == name]
    assert len(found) == 1, [span.name for span in spans.get_finished_spans()]
    return found[0]


async def test_a_traceparent_makes_the_server_span_a_child_of_the_callers_span(
    spans: InMemorySpanExporter, traced: Service
) -> None:
    await create_story(traced)

    await traced.stub.UpdateContext(
        update_request(change("CREATE", "MILESTONE", "M-1", MILESTONE)), metadata=TRACEPARENT
    )

    server = named(spans, UPDATE_SPAN)
    assert server.kind is trace.SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CALLER_SPAN_ID
    assert dict(server.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "fleet.context.v1.ContextService",
        "rpc.method": "UpdateContext",
        "rpc.grpc.status_code": 0,
    }


async def test_store_calls_during_an_rpc_are_client_spans_under_its_server_span(
    spans: InMemorySpanExporter, traced: Service
) -> None:
    await create_story(traced)
    spans.clear()

    await traced.stub.UpdateContext(
        update_request(change("CREATE", "MILESTONE", "M-1", MILESTONE)), metadata=TRACEPARENT
    )

    server, store = named(spans, UPDATE_SPAN), named(spans, "memory commit")
    assert store.kind is trace.SpanKind.CLIENT
    assert store.context.trace_id == server.context.trace_id
    assert store.parent is not None
    assert store.parent.span_id == server.context.span_id
    assert dict(store.attributes or {}) == {"db.system": "memory", "db.operation": "commit"}


async def test_a_call_without_traceparent_starts_a_new_trace(
    spans: InMemorySpanExporter, traced: Service
) -> None:
    await traced.stub.ValidateScope(pb.ValidateScopeRequest(role="developer", phase="BUILD"))

    server = named(spans, "fleet.context.v1.ContextService/ValidateScope")

    assert server.parent is None


async def test_a_client_error_is_recorded_on_the_server_span_without_failing_it(
    spans: InMemorySpanExporter, traced: Service
) -> None:
    request = pb.GetContextRequest(story_id="NOPE", role="developer", phase="BUILD")

    with pytest.raises(grpc.aio.AioRpcError):
        await traced.stub.GetContext(request)

    # abort() sends the status before the handler's exception unwinds through the span: the client may see
    # the error a moment before the server span ends.
    name = "fleet.context.v1.ContextService/GetContext"
    await eventually(
        lambda: any(span.name == name for span in spans.get_finished_spans()), within=5, what="server span"
    )
    server = named(spans, name)
    assert (server.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert server.status.status_code is trace.StatusCode.UNSET


async def test_a_failed_store_call_span_is_an_error_naming_only_the_error_class(
    spans: InMemorySpanExporter,
) -> None:
    with pytest.raises(StoreUnavailable):
        async with store_call("neo4j", "commit"):
            raise StoreUnavailable("password=hunter2 rejected")

    store = named(spans, "neo4j commit")
    assert store.status.status_code is trace.StatusCode.ERROR
    assert store.status.description == "StoreUnavailable"
    assert store.events == ()


async def test_injected_headers_carry_the_current_trace_to_the_next_consumer(
    spans: InMemorySpanExporter,
) -> None:
    headers: dict[str, str] = {}
    with trace.get_tracer("test").start_as_current_span("publish"):
        sent_trace = current_trace_id()
        inject(headers)

    received = trace.get_current_span(extract({key.title(): value for key, value in headers.items()}))

    assert format(received.get_span_context().trace_id, "032x") == sent_trace
    assert received.get_span_context().is_remote


def test_the_trace_id_is_empty_outside_any_span() -> None:
    assert current_trace_id() == ""


# Configuration


def test_tracing_is_off_unless_an_exporter_is_configured() -> None:
    installed = trace.get_tracer_provider()

    provider = configure_tracing(
        ObservabilitySettings(OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT=None)
    )

    assert provider is None
    assert trace.get_tracer_provider() is installed


@pytest.mark.parametrize(
    "settings",
    [
        ObservabilitySettings(OTEL_TRACES_EXPORTER="console"),
        ObservabilitySettings(
            OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317"
        ),
        ObservabilitySettings(
            OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317"
        ),
    ],
    ids=["console", "otlp", "otlp-endpoint-only"],
)
def test_a_configured_exporter_builds_a_provider_named_after_the_service(
    settings: ObservabilitySettings,
) -> None:
    provider = tracer_provider(settings)

    assert provider is not None
    assert provider.resource.attributes["service.name"] == "context-service"
    provider.shutdown()


def test_otlp_without_its_exporter_package_fails_fast_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)

    with pytest.raises(TracingUnavailable, match=OTLP_PACKAGE):
        tracer_provider(ObservabilitySettings(OTEL_TRACES_EXPORTER="otlp"))
