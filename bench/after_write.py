"""`make bench-after-write`: first reads after a write, optionally side by side with a base source tree.

Each step is an UpdateContext of one task of the story, then the timed read of that story, as in the
sequenced part of `make bench` (GetContext medium developer, GetContext large architect, RehydrateSession
large), driven by a grpc.aio client in this process against the service as its own process on the local real
stack. With `BENCH_BASE=<a src/ directory>` (e.g. `git archive` of a base commit, with its generated stubs)
that code also serves, from its own graph on the same stores, and the rounds alternate between the two in
both orders, so the machine's slow phases fall on both alike. Per scenario and service: the read's p50 / p90 /
p99 and the service process's CPU per step (write and read), medians over the rounds. Writes
bench/results/after-write-<stamp>.md and .json; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from bench.procs import Process, running, services_beside_base
from bench.report import save
from bench.scenarios import LARGE, MEDIUM, REHYDRATE, get_context, seed_at, touch_task
from bench.stats import percentiles
from fleet.context.v1 import context_pb2_grpc

BASE = os.environ.get("BENCH_BASE", "")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
WARM_UP = 3
SCENARIOS: tuple[tuple[str, str, str, Message, int], ...] = (
    ("GetContext medium developer", MEDIUM, "GetContext", get_context(MEDIUM, "developer"), 100),
    ("GetContext large architect", LARGE, "GetContext", get_context(LARGE, "architect"), 50),
    ("RehydrateSession large, 5 roles", LARGE, "RehydrateSession", REHYDRATE, 50),
)


async def _steps(process: Process, story: str, method: str, request: Message, steps: int) -> dict[str, Any]:
    """`steps` writes each followed by the timed read: the reads' percentiles and the CPU per step."""
    async with grpc.aio.insecure_channel(process.target) as channel:
        stub = context_pb2_grpc.ContextServiceStub(channel)
        write: Callable[[], Any] = touch_task(stub, story)
        read = getattr(stub, method)
        for _ in range(WARM_UP):
            await write()
            await read(request)
        cpu = process.cpu_seconds()
        latencies: list[float] = []
        for _ in range(steps):
            await write()
            started = time.perf_counter()
            await read(request)
            latencies.append((time.perf_counter() - started) * 1000)
        cpu_ms = (process.cpu_seconds() - cpu) * 1000 / steps
    return {**percentiles(latencies), "cpu_ms_per_step": round(cpu_ms, 2)}


async def measure(services: dict[str, Process]) -> list[dict[str, Any]]:
    """Every scenario, `ROUNDS` rounds, the services in alternating order."""
    rows = []
    for label, story, method, request, steps in SCENARIOS:
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in services}
        for n in range(ROUNDS):
            order = list(services) if n % 2 == 0 else list(reversed(services))
            for name in order:
                rounds[name].append(await _steps(services[name], story, method, request, steps))
                print(f"[{datetime.now(UTC):%H:%M:%S}] {label}, round {n + 1}, {name}", flush=True)
        for name, runs in rounds.items():
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            rows.append({"scenario": label, "service": name, "median": median, "rounds": runs})
    return rows


def markdown(rows: list[dict[str, Any]], stamp: str) -> str:
    """The report: medians over the rounds, and each round's p50."""
    lines = [
        f"# First reads after a write ({stamp})",
        "",
        f"Each step: an UpdateContext of one task, then the timed read; {ROUNDS} rounds per service in "
        "alternating order, medians over the rounds. CPU: the service process's, per step (write and read)."
        + (f" Base: `{BASE}`." if BASE else ""),
        "",
        "| scenario | service | read p50 / p90 / p99 ms | p50 of each round | CPU ms per step |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["median"]
        each = ", ".join(f"{run['p50']:.1f}" for run in row["rounds"])
        lines.append(
            f"| {row['scenario']} | {row['service']} | {m['p50']:.2f} / {m['p90']:.2f} / {m['p99']:.2f} "
            f"| {each} | {m['cpu_ms_per_step']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Start the stack and the service (and its base), seed, measure, write the report."""
    with (
        services_beside_base("context-bench-after-write-", BASE) as (_, services),
        running(services.values(), lambda p: asyncio.run(seed_at(p.target))),
    ):
        rows = asyncio.run(measure(services))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    save("after-write", stamp, markdown(rows, stamp), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
