"""`make bench-cpu`: CPU time per request of the served process, a figure a busy machine does not distort.

Wall-clock latency on a shared machine says more about the neighbours than about the code; the CPU time the
service process spends per request does not. The service runs as its own process on the local real stack
(FalkorDB + Valkey + NATS, logging at INFO to a file), beside the bare echo; h2load sends a fixed number of
requests per scenario (a few clients, one stream each), and the process's user + system CPU time (/proc) is
read before and after. Each figure is the median of several runs. Writes bench/results/cpu-<stamp>.md and
.json; asserts nothing.

CPU time per request still moves with the machine's load (a busy client batches less), so a change is
measured against its base side by side: `BENCH_CPU_BASE=<a src/ directory>` (e.g. `git archive` of the base
commit, with its generated stubs) also serves that code on the same stores, and each run measures the
targets in an order turned by one from the run before (the one measured first in a run does worse).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from bench import h2load
from bench.h2load import Shot
from bench.procs import Process, echo_process, running, services_beside_base
from bench.report import save
from bench.scenarios import (
    MEDIUM,
    SERVICE,
    SESSION_GET,
    SESSION_PUT,
    SESSION_SERVICE,
    get_context,
    populate,
)
from bench.wire import body_file, echo_path
from fleet.context.session.v1 import session_pb2_grpc
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

HEALTH = "/grpc.health.v1.Health/Check"
REQUESTS = int(os.environ.get("BENCH_CPU_REQUESTS", "20000"))
RUNS = int(os.environ.get("BENCH_CPU_RUNS", "3"))
CLIENTS = 4
BASE = os.environ.get("BENCH_CPU_BASE", "")
# Comma-separated parts of scenario names to run (default: all).
ONLY = [part for part in os.environ.get("BENCH_CPU_ONLY", "").split(",") if part]


@dataclass(frozen=True)
class Scenario:
    """One fixed request to one method path of the service."""

    name: str
    path: str
    request: Message


SCENARIOS = (
    Scenario("health Check (probe path)", HEALTH, health_pb2.HealthCheckRequest()),
    Scenario(
        "ValidateScope",
        SERVICE + "ValidateScope",
        pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=["CASE_HEADER"]),
    ),
    Scenario("GetContext medium developer, hit", SERVICE + "GetContext", get_context(MEDIUM, "developer")),
    Scenario("session Get", SESSION_SERVICE + "Get", SESSION_GET),
    Scenario(
        "session Put",
        SESSION_SERVICE + "Put",
        SESSION_PUT,
    ),
)


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _seed(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        await populate(context_pb2_grpc.ContextServiceStub(channel), MEDIUM, 20, 10)
        await session_pb2_grpc.SessionContextServiceStub(channel).Put(SESSION_PUT)


def cpu_ms_per_request(process: Process, path: str, body: Path, work: Path) -> float:
    """Service CPU ms per request over `REQUESTS` requests (after a warm-up); fails on any failed one."""
    h2load.run([process.target], Shot(path, body, CLIENTS, 500), work)
    before = process.cpu_seconds()
    [load] = h2load.run([process.target], Shot(path, body, CLIENTS, REQUESTS), work)
    spent = process.cpu_seconds() - before
    if load.failed or load.done != REQUESTS:
        raise RuntimeError(f"{path}: {load.failed} failed, {load.done} done of {REQUESTS}")
    return spent * 1000 / REQUESTS


def measure(services: dict[str, Process], echo: Process, work: Path) -> list[dict[str, Any]]:
    """Every scenario's CPU per request on each service and on the echo (same reply size), in turns."""
    rows = []
    for scenario in SCENARIOS:
        if ONLY and not any(part in scenario.name for part in ONLY):
            continue
        _log(scenario.name)
        body = body_file(work, scenario.name.replace(" ", "_").replace(",", ""), scenario.request)
        size = _reply_size(services["service"], scenario)
        targets = [(name, process, scenario.path) for name, process in services.items()]
        targets.append(("echo", echo, echo_path(size)))
        runs: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        for n in range(RUNS):
            # The order turns every run: the target measured first in a run does worse than the others.
            turn = n % len(targets)
            for name, process, path in targets[turn:] + targets[:turn]:
                runs[name].append(cpu_ms_per_request(process, path, body, work))
        medians = {f"{name}_cpu_ms": round(statistics.median(ms), 4) for name, ms in runs.items()}
        rows.append({"scenario": scenario.name, "reply_bytes": size, **medians, "runs": runs})
    return rows


def _reply_size(process: Process, scenario: Scenario) -> int:
    """One call with a real gRPC client: the reply's size; raises unless the status is OK."""
    with grpc.insecure_channel(process.target) as channel:
        call = channel.unary_unary(scenario.path, lambda m: m.SerializeToString())
        reply: bytes = call(scenario.request, timeout=30)
    return len(reply)


def markdown(rows: list[dict[str, Any]], stamp: str) -> str:
    """The report table: one CPU column per process measured."""
    names = list(rows[0]["runs"])
    lines = [
        f"# CPU per request {stamp}",
        "",
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {REQUESTS} requests per run, "
        f"{CLIENTS} clients, median of {RUNS} runs, the order turned each run; CPU = user + system time of"
        " the served process, ms per request." + (f" `base` serves {BASE}." if BASE else ""),
        "",
        "| scenario | reply bytes | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for r in rows:
        cells = " | ".join(f"{r[name + '_cpu_ms']:.3f}" for name in names)
        lines.append(f"| {r['scenario']} | {r['reply_bytes']} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Start the stack, the service (and its base) and the echo; seed; measure; write the report."""
    with services_beside_base("context-bench-cpu-", BASE) as (work, services):
        echo = echo_process(work)
        with running([echo]), running(services.values(), lambda p: asyncio.run(_seed(p.target))):
            rows = measure(services, echo, work)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    save("cpu", stamp, markdown(rows, stamp), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
