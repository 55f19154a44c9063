"""Prometheus metrics of the service, and the one wrapper every store call goes through.

Metric objects live in one registry per process (`REGISTRY`), exposed on METRICS_PORT at /metrics by
`MetricsServer`; under `serve --workers N` each worker's values go to a directory the supervisor's endpoint
reads (prometheus_client's multiprocess mode: each gauge says how the workers' values combine). The RPC
metric names are part of the deploy/ canary analysis: do not rename them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Buckets from 0.5 ms to 10 s: store calls and RPCs share them so their histograms compare directly.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

STORE_LATENCY = Histogram(
    "context_store_call_seconds",
    "Latency of store calls by backend and operation.",
    ("backend", "operation"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "context_store_errors_total",
    "Failed store calls by backend, operation and error kind.",
    ("backend", "operation", "error"),
    registry=REGISTRY,
)
RPC_REQUESTS = Counter(
    "context_grpc_requests_total",
    "Finished gRPC calls by short method name and status code name.",
    ("method", "code"),
    registry=REGISTRY,
)
RPC_DURATION = Histogram(
    "context_grpc_request_duration_seconds",
    "Server-side gRPC call latency by short method name and status code name.",
    ("method", "code"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RPC_IN_FLIGHT = Gauge(
    "context_grpc_in_flight_requests",
    "gRPC calls being handled right now, by short method name.",
    ("method",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "context_cache_requests_total",
    "Cache look-ups by cache name and result (hit or miss).",
    ("cache", "result"),
    registry=REGISTRY,
)
RESPONSE_CACHE_EVICTIONS = Counter(
    "context_response_cache_evictions_total",
    "Cached answers evicted to stay within RESPONSE_CACHE_MAX_BYTES, by cache name.",
    ("cache",),
    registry=REGISTRY,
)
RESPONSE_CACHE_BYTES = Gauge(
    "context_response_cache_bytes",
    "Bytes of cached answers held now, by cache name.",
    ("cache",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CACHE_TRACKING = Gauge(
    "context_cache_tracking",
    "1 while pushed change notices (CLIENT TRACKING) spare the cache its freshness reads, by server.",
    ("server",),
    multiprocess_mode="livemin",
    registry=REGISTRY,
)
SESSION_WATCHERS = Gauge(
    "context_session_watchers",
    "Session Watch streams open right now.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SESSION_EVENTS_SENT = Counter(
    "context_session_watch_events_total",
    "Events sent on session Watch streams, by event type.",
    ("type",),
    registry=REGISTRY,
)
SESSION_SWEPT = Counter(
    "context_session_sweeper_removals_total",
    "Session entries expired and idle sessions dropped by the sweeper.",
    registry=REGISTRY,
)
SESSION_READERS = Gauge(
    "context_session_watch_readers",
    "Change-log readers the session Watch streams share now (one per watched session).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
EVENT_LOOP_TASKS = Gauge(
    "context_event_loop_tasks",
    "asyncio tasks of the service's event loop not yet done.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

# Store spans are named by the instrumentation scope, not by the backend, so one tracer serves all of them.
_TRACER_NAME = "context_service.stores"


# Gauges read from a function: at each scrape in one process (`set_function`); a worker of
# `serve --workers N` writes their values to the shared directory with `sample_gauges` (a scrape there reads
# the workers' files, not their functions).
_SAMPLED: dict[Gauge, Callable[[], float]] = {}


def _sampled(gauge: Gauge, read: Callable[[], float]) -> None:
    _SAMPLED[gauge] = read
    gauge.set_function(read)


def count_tasks_of(loop: asyncio.AbstractEventLoop | None) -> None:
    """Make the task gauge count `loop`'s unfinished tasks (None: report 0)."""
    # all_tasks(loop) may be called from the scrape thread: it copies the task set, retrying on a race.
    _sampled(EVENT_LOOP_TASKS, lambda: float(len(asyncio.all_tasks(loop))) if loop else 0.0)


def count_session_readers(readers: Callable[[], int]) -> None:
    """Make the shared-reader gauge report `readers()`."""
    _sampled(SESSION_READERS, lambda: float(readers()))


def sample_gauges() -> None:
    """Write each function-read gauge's value now (where a scrape reads stored values, not functions)."""
    for gauge, read in _SAMPLED.items():
        gauge.set(read())


def record_cache(cache: str, *, hit: bool) -> None:
    """Count one cache look-up as a hit or a miss."""
    _cache_outcome(cache, hit).inc()


@functools.cache
def _cache_outcome(cache: str, hit: bool) -> Counter:
    """The counter child of one cache and outcome, looked up once (a `labels` call per look-up costs more
    than the look-up itself on a cache hit)."""
    return CACHE_REQUESTS.labels(cache, "hit" if hit else "miss")


class _StoreCall:
    """Times one store call, counts its failure and, when tracing is on, wraps it in a CLIENT span."""

    __slots__ = ("_backend", "_operation", "_scope", "_span", "_started")

    def __init__(self, backend: str, operation: str) -> None:
        self._backend = backend
        self._operation = operation
        self._scope: AbstractContextManager[trace.Span] | None = None
        self._span: trace.Span | None = None
        self._started = 0.0

    async def __aenter__(self) -> None:
        if tracing_on():
            # Exception messages from drivers may quote queries or values: record only the class name.
            self._scope = trace.get_tracer(_TRACER_NAME).start_as_current_span(
                f"{self._backend} {self._operation}",
                kind=trace.SpanKind.CLIENT,
                attributes={"db.system": self._backend, "db.operation": self._operation},
                record_exception=False,
                set_status_on_exception=False,
            )
            self._span = self._scope.__enter__()
        self._started = time.perf_counter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _latency(self._backend, self._operation).observe(time.perf_counter() - self._started)
        if exc_type is not None:
            STORE_ERRORS.labels(self._backend, self._operation, exc_type.__name__).inc()
        if self._scope is not None and self._span is not None:
            if exc_type is not None:
                self._span.set_status(trace.StatusCode.ERROR, exc_type.__name__)
            self._scope.__exit__(exc_type, exc, tb)


def store_call(backend: str, operation: str) -> AbstractAsyncContextManager[None]:
    """Time one store call, count its failure (by exception class name) and trace it as a CLIENT span."""
    return _StoreCall(backend, operation)


_NO_TRACER_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def tracing_on() -> bool:
    """Whether a tracer provider is installed (without one every span is a no-op: skip building it)."""
    return not isinstance(trace.get_tracer_provider(), _NO_TRACER_PROVIDERS)


@functools.cache
def _latency(backend: str, operation: str) -> Histogram:
    """The latency histogram's child for one backend and operation (a fixed, small set)."""
    return STORE_LATENCY.labels(backend, operation)
