"""OpenTelemetry tracing: provider set-up from settings, W3C trace-context helpers and messaging spans.

Tracing is off unless an exporter is configured. `configure_tracing` installs the provider process-wide
(store spans, messaging spans and the gRPC interceptor use the global provider); `tracing` does the same as an
async context manager that flushes and shuts the provider down on exit. nats-py has no OTel instrumentation,
so the NATS adapters open their PRODUCER and CONSUMER spans through `publish_span` and `process_span`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager, contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from context_service.config import ObservabilitySettings

OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"
# One tracer (named by the instrumentation scope, not the subject) serves every messaging span.
MESSAGING_TRACER = "context_service.messaging"
# No semantic convention names how processing a message ended; these attributes are the service's own.
OUTCOME_ATTRIBUTE = "context.message.outcome"
DELIVERY_ATTRIBUTE = "context.message.delivery"


class TracingUnavailable(RuntimeError):
    """The configured exporter cannot be used (e.g. its package is not installed)."""


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    """The OTLP/gRPC exporter; a missing package is a clear start-up error, not a silent no-op."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415 — optional package
            OTLPSpanExporter,
        )
    except ImportError:
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER=otlp needs the {OTLP_PACKAGE} package, which is not installed"
        ) from None
    # Without an endpoint the exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


def tracer_provider(settings: ObservabilitySettings) -> TracerProvider | None:
    """A provider exporting to the configured exporter, or None when tracing is off; installs nothing."""
    if not settings.tracing_enabled:
        return None
    if settings.traces_exporter == "console":
        exporter: SpanExporter = ConsoleSpanExporter(service_name=settings.service_name)
    else:
        exporter = _otlp_exporter(settings.otlp_endpoint)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(settings: ObservabilitySettings) -> TracerProvider | None:
    """Build the provider and install it process-wide; None (nothing installed) when tracing is off."""
    provider = tracer_provider(settings)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


@asynccontextmanager
async def tracing(settings: ObservabilitySettings) -> AsyncIterator[TracerProvider | None]:
    """`configure_tracing` for the lifetime of the context; pending spans are flushed on exit."""
    provider = configure_tracing(settings)
    try:
        yield provider
    finally:
        if provider is not None:
            # Shutting down flushes the batch processor, which may block on the exporter's network call.
            await asyncio.to_thread(provider.shutdown)


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current trace context (traceparent, tracestate) into outgoing message headers.

    Outside a valid span there is none to write, and the propagators are not run (every published message and
    every session write passes here, mostly with tracing off). The service sets no baggage.
    """
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)


def extract(headers: Mapping[str, str] | None) -> Context:
    """The trace context carried by incoming headers (keys compared case-insensitively)."""
    carrier = {key.lower(): value for key, value in (headers or {}).items()}
    return propagate.extract(carrier)


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or "" outside any valid span."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


def trace_fields() -> dict[str, str]:
    """Log fields naming the current trace: {"trace_id": ...}, or none outside any valid span."""
    trace_id = current_trace_id()
    return {"trace_id": trace_id} if trace_id else {}


@contextmanager
def publish_span(subject: str, msg_id: str, parent: Context | None = None) -> Iterator[trace.Span]:
    """A PRODUCER span for handing one message over; headers injected inside it name it as the parent.

    `parent`: the trace it continues (default: the current one).
    """
    attributes = {
        "messaging.system": "nats",
        "messaging.operation.type": "publish",
        "messaging.destination.name": subject,
        "messaging.message.id": msg_id,
    }
    with trace.get_tracer(MESSAGING_TRACER).start_as_current_span(
        f"publish {subject}",
        context=parent,
        kind=trace.SpanKind.PRODUCER,
        attributes=attributes,
        record_exception=False,  # exception text may carry message data
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def process_span(subject: str, parent: Context, *, consumer: str, delivery: int) -> Iterator[trace.Span]:
    """A CONSUMER span for processing one message, child of the trace context its headers carried."""
    attributes: dict[str, str | int] = {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        DELIVERY_ATTRIBUTE: delivery,
    }
    with trace.get_tracer(MESSAGING_TRACER).start_as_current_span(
        f"process {subject}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def record_outcome(span: trace.Span, outcome: str, *, error: str = "", fault: bool = False) -> None:
    """How processing a message ended; `error` is a low-cardinality code, `fault` marks the span failed."""
    span.set_attribute(OUTCOME_ATTRIBUTE, outcome)
    if error:
        span.set_attribute("error.type", error)
    if fault:
        span.set_status(trace.StatusCode.ERROR, error or outcome)
