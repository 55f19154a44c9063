"""Spans recorded in memory, for tests of tracing (the process-wide SDK provider, installed once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nats.aio.msg import Msg
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of the process-wide SDK provider (installed once: OTel allows setting it only once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()  # later tests' spans are no longer kept


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    """The exporter, emptied for this test."""
    exporter.clear()
    return exporter


def hex_id(value: int, digits: int) -> str:
    """A trace (32 digits) or span (16 digits) id as W3C writes it."""
    return format(value, f"0{digits}x")


def in_trace(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    """The finished spans of one trace."""
    return [s for s in spans.get_finished_spans() if hex_id(s.context.trace_id, 32) == trace_id]


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    """The spans with this name."""
    return [s for s in spans if s.name == name]


def named_by(message: Msg) -> tuple[str, str]:
    """(trace id, parent span id) of a message's traceparent header (its flags may vary)."""
    _version, trace_id, span_id, _flags = (message.headers or {})["traceparent"].split("-")
    return trace_id, span_id


def parent_of(span: ReadableSpan) -> str:
    """The parent's span id ("" for a root span)."""
    return hex_id(span.parent.span_id, 16) if span.parent is not None else ""
