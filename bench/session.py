"""`python -m bench.session`: the session context (fleet.context.session.v1) on Valkey, over real gRPC.

Put and Get p50/p99 at 1 client and req/s at 32 clients, beside an echo ceiling (the health Check RPC
on the same server and channel: the gRPC cost of a call that does nothing) and beside raw Valkey SET/GET
from the same process; then the delivery latency of one change stream to 100 watchers. Valkey runs as a
local server for the run. Writes bench/results/session-<UTC timestamp>.json and .md; asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from bench.driver import run_calls
from bench.report import RESULTS
from bench.stats import quantile
from bench.stores import serving
from context_service.config import KvSettings, NatsSettings, Settings, ValkeySettings
from context_service.local_servers import valkey_server
from context_service.observability.logging import configure_logging
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc

SINGLE_REQUESTS = 2_000
PARALLEL_REQUESTS = 8_000
CLIENTS = 32
WATCHERS = 100
WATCHED_CHANGES = 200
PACE_S = 0.01
TARGETS = {"get_p99_ms": 1.5, "put_p99_ms": 2.5, "get_vs_echo_rps": 0.5, "watch_p95_ms": 100.0}
Call = Callable[[], Awaitable[object]]


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in ms."""
    ordered = sorted(latencies_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(quantile(ordered, 0.95), 3),
        "p99_ms": round(quantile(ordered, 0.99), 3),
    }


async def single_and_parallel(call: Call) -> dict[str, float]:
    """Latency at 1 client, throughput at 32 clients (after a warm-up)."""
    await run_calls(call, CLIENTS * 4, CLIENTS)
    latencies, _ = await run_calls(call, SINGLE_REQUESTS, 1)
    parallel, elapsed = await run_calls(call, PARALLEL_REQUESTS, CLIENTS)
    return {**percentiles(latencies), "rps_32": round(len(parallel) / elapsed, 1)}


@asynccontextmanager
async def served(valkey_url: str) -> AsyncIterator[grpc.aio.Channel]:
    """The service with its sessions on Valkey (NATS off), on a free port; a channel to it."""
    settings = Settings(
        GRAPH_BACKEND="memory",
        valkey=ValkeySettings(VALKEY_URL=valkey_url),
        kv=KvSettings(KV_BACKEND="valkey"),
        nats=NatsSettings(ENABLE_NATS=False),
    )
    async with serving(settings) as channel:
        yield channel


async def rpc_figures(channel: grpc.aio.Channel) -> dict[str, dict[str, float]]:
    """Echo, Get and Put on one session of 1,000 entries."""
    stub = pb_grpc.SessionContextServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    sid = f"bench-{uuid.uuid4().hex[:8]}"
    value = json.dumps({"verdict": "ok", "notes": ["x" * 40] * 5})
    items = [pb.PutItem(key=f"analysis:mind:{i}", value_json=value) for i in range(1_000)]
    await stub.BatchPut(pb.BatchPutRequest(session_id=sid, items=items))
    counter, spread = iter(range(10**9)), iter(range(10**9))
    return {
        "echo": await single_and_parallel(lambda: health.Check(health_pb2.HealthCheckRequest())),
        "get": await single_and_parallel(
            lambda: stub.Get(pb.GetRequest(session_id=sid, key="analysis:mind:7"))
        ),
        # Concurrent Gets of one key share a read; these ask for a different key each time.
        "get (1,000 keys in turn)": await single_and_parallel(
            lambda: stub.Get(pb.GetRequest(session_id=sid, key=f"analysis:mind:{next(spread) % 1000}"))
        ),
        "put": await single_and_parallel(
            lambda: stub.Put(
                pb.PutRequest(session_id=sid, key=f"analysis:mind:{next(counter) % 1000}", value_json=value)
            )
        ),
    }


async def raw_valkey(url: str) -> dict[str, dict[str, float]]:
    """Plain SET and GET of the same value from this process (the floor under the session RPCs)."""
    value = json.dumps({"verdict": "ok", "notes": ["x" * 40] * 5})
    async with Redis.from_url(url, max_connections=CLIENTS * 2) as redis:
        await redis.set("bench:raw", value)
        return {
            "valkey_get": await single_and_parallel(lambda: redis.get("bench:raw")),
            "valkey_set": await single_and_parallel(lambda: redis.set("bench:raw", value)),
        }


async def watch_delivery(channel: grpc.aio.Channel) -> dict[str, float]:
    """100 watchers of one session; each change's delay from the Put call to every watcher, in ms."""
    stub = pb_grpc.SessionContextServiceStub(channel)
    sid = f"bench-watch-{uuid.uuid4().hex[:8]}"
    await stub.Put(pb.PutRequest(session_id=sid, key="warm", value_json="0"))
    arrivals: list[dict[int, float]] = [{} for _ in range(WATCHERS)]
    ready = asyncio.Semaphore(0)

    async def watcher(seen: dict[int, float]) -> None:
        call = stub.Watch(pb.WatchRequest(session_id=sid, include_initial=True))
        async for response in call:
            if response.type == pb.EVENT_TYPE_PROGRESS and not seen:
                ready.release()
            elif not response.initial and response.type == pb.EVENT_TYPE_SET:
                seen[response.revision] = time.perf_counter()
                if len(seen) == WATCHED_CHANGES:
                    call.cancel()
                    return

    tasks = [asyncio.create_task(watcher(seen)) for seen in arrivals]
    for _ in range(WATCHERS):
        await ready.acquire()
    sent: dict[int, float] = {}
    for i in range(WATCHED_CHANGES):
        started = time.perf_counter()
        put = await stub.Put(pb.PutRequest(session_id=sid, key=f"k{i % 10}", value_json=str(i)))
        sent[put.entry.revision] = started
        await asyncio.sleep(PACE_S)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    delays = [(seen[r] - sent[r]) * 1000 for seen in arrivals for r in sent]
    return {"watchers": WATCHERS, "changes": WATCHED_CHANGES, **percentiles(delays)}


async def run(valkey_url: str) -> dict[str, Any]:
    """Every figure of the report."""
    async with served(valkey_url) as channel:
        rpcs = await rpc_figures(channel)
        watch = await watch_delivery(channel)
    return {"rpcs": {**rpcs, **await raw_valkey(valkey_url)}, "watch": watch}


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, with the targets beside the figures."""
    rows = ["| call | p50 ms | p95 ms | p99 ms | req/s at 32 clients |", "|---|---|---|---|---|"]
    for name, r in report["rpcs"].items():
        rows.append(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['rps_32']} |")
    w = report["watch"]
    rpcs = report["rpcs"]
    ratio = rpcs["get"]["rps_32"] / rpcs["echo"]["rps_32"]
    spread = rpcs["get (1,000 keys in turn)"]["rps_32"] / rpcs["echo"]["rps_32"]
    return "\n".join([
        f"# Session context benchmark ({report['when']}, {report['cpus']} CPUs, "
        f"1-minute load average {report['load_average_1m']} at the end)", "",
        "One process: the gRPC client, the server and its Valkey client share one event loop; Valkey runs",
        "locally. `echo` is the health Check RPC on the same channel.", "", *rows, "",
        f"Get req/s = {ratio:.0%} of echo (target >= {TARGETS['get_vs_echo_rps']:.0%}; one key, whose "
        f"concurrent Gets share reads; {spread:.0%} over 1,000 keys in turn); targets at 1 client: "
        f"Get p99 <= {TARGETS['get_p99_ms']} ms, Put p99 <= {TARGETS['put_p99_ms']} ms.", "",
        f"Watch delivery, {w['watchers']} watchers x {w['changes']} changes: p50 {w['p50_ms']} ms, "
        f"p95 {w['p95_ms']} ms, p99 {w['p99_ms']} ms (target p95 <= {TARGETS['watch_p95_ms']} ms).", "",
    ])  # fmt: skip


def main() -> int:
    """Start Valkey, measure, stop it, write and print the report."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    configure_logging(level="WARNING")
    try:
        with tempfile.TemporaryDirectory(prefix="session-bench-") as tmp, valkey_server(Path(tmp)) as valkey:
            figures = asyncio.run(run(f"{valkey.url}/0"))
    except KeyboardInterrupt:
        print("bench interrupted; Valkey stopped, no report written", file=sys.stderr)
        return 130
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # the machine is shared: read figures against this
        "targets": TARGETS,
        **figures,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = markdown(report)
    (RESULTS / f"session-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"session-{stamp}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
