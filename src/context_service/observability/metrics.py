"""Prometheus metrics of the service, and the one wrapper every store call goes through.

Metric objects live in one registry per process (`REGISTRY`), exposed on METRICS_PORT at /metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

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


@asynccontextmanager
async def store_call(backend: str, operation: str) -> AsyncIterator[None]:
    """Time one store call and count its failure (by exception class name)."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        STORE_ERRORS.labels(backend, operation, type(exc).__name__).inc()
        raise
    finally:
        STORE_LATENCY.labels(backend, operation).observe(time.perf_counter() - started)
