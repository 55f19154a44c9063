"""Timing of one scenario on one backend, pooled over rounds, and what it costs in store round trips."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stores import graph_queries, store_calls

Call = Callable[[], Awaitable[object]]


@dataclass
class Tally:
    """Latencies and store traffic of one scenario on one backend, summed over its rounds."""

    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    graph_queries: int = 0

    @property
    def requests(self) -> int:
        """Measured requests (warm-up excluded)."""
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        """Median, p95, throughput and round trips per request."""
        ordered = sorted(self.latencies_ms)
        n = len(ordered)
        return {
            "requests": n,
            "concurrency": self.concurrency,
            "median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[max(0, int(n * 0.95) - 1)], 3),
            "rps": round(n / self.elapsed_s, 1),
            "falkordb_queries_per_request": round(self.graph_queries / n, 2),
            "store_calls_per_request": {k: round(v / n, 2) for k, v in sorted(self.calls.items()) if v},
        }


async def run_calls(call: Call, requests: int, concurrency: int) -> tuple[list[float], float]:
    """`requests` calls with `concurrency` in flight: each latency in ms, and the wall time in s."""
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def measure_round(tally: Tally, call: Call, requests: int, falkordb_url: str | None) -> None:
    """One round added to `tally`, with the store calls and graph queries it made."""
    calls_before, queries_before = store_calls(), await graph_queries(falkordb_url)
    latencies, elapsed = await run_calls(call, requests, tally.concurrency)
    tally.calls.update(store_calls() - calls_before)
    tally.graph_queries += await graph_queries(falkordb_url) - queries_before
    tally.latencies_ms += latencies
    tally.elapsed_s += elapsed
