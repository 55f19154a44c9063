"""One fault scenario end to end: the stack, the service process(es), the load process, the health watch,
the fault in the middle, and the outcomes read back afterwards."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.load import command
from bench.stack import Served, Stack
from tests.support.waiting import eventually

SERVING = health_pb2.HealthCheckResponse.SERVING
HEALTH_POLL_S = 0.1
DOWN = "DOWN"  # the health check itself failed: the process is gone or unreachable


@dataclass
class HealthLog:
    """(time, status name) samples of one process's overall health."""

    samples: list[tuple[float, str]] = field(default_factory=list)

    def first(self, status: str, after: float) -> float | None:
        """Seconds from `after` to the first sample with `status` (or, for NOT_SERVING, unreachable)."""
        wanted = {status, DOWN} if status == "NOT_SERVING" else {status}
        for at, seen in self.samples:
            if at >= after and seen in wanted:
                return at - after
        return None


async def watch_health(target: str, log: HealthLog, stop: asyncio.Event) -> None:
    """Poll the health service until stopped (failures are DOWN samples)."""
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while not stop.is_set():
            try:
                answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.aio.AioRpcError:
                status = DOWN
            log.samples.append((time.time(), status))
            await asyncio.sleep(HEALTH_POLL_S)


@dataclass
class Run:
    """A scenario in progress: its stack, service processes, load output and health logs."""

    stack: Stack
    run: str
    out: Path
    services: list[Served]
    health: dict[str, HealthLog] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def story(self) -> str:
        """The story the gRPC load and the NATS update requests write to."""
        return f"US-{self.run}"

    def lines(self) -> list[dict[str, Any]]:
        """Every attempt the load recorded so far."""
        if not self.out.exists():
            return []
        text = self.out.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def mark(self, name: str) -> float:
        """Note the wall-clock time of a step of the scenario."""
        self.marks[name] = time.time()
        return self.marks[name]

    def first_ok(self, op: str, after: float) -> float | None:
        """Seconds from `after` to the first acknowledged attempt of `op`."""
        times = [line["t"] for line in self.lines() if line["op"] == op and line["code"] == "OK"]
        later = [t - after for t in times if t >= after]
        return min(later) if later else None


class StoreBroke(AssertionError):
    """The service did not start because a store crashed or stopped answering: the stack failed, not it."""


async def serve_and_wait(stack: Stack, name: str, port: int | None = None) -> Served:
    """Start a service process and wait (bounded) until it reports SERVING; failing, say how each store is."""
    served = stack.serve(name, port)
    try:
        await served.wait_serving()
    except AssertionError as exc:
        broken = await asyncio.to_thread(stack.broken_stores)  # a hung store takes its probe's 0.5 s
        failure = StoreBroke if broken else AssertionError
        raise failure(f"{exc}\n{stack.stores_report(broken)}") from None
    return served


def start_load(run: Run, seconds: float) -> subprocess.Popen[bytes]:
    """The load generator as a process of its own, aimed at every running service."""
    argv = command(
        targets=[s.target for s in run.services],
        nats_url=run.stack.nats.url,
        token=run.stack.token,
        run_id=run.run,
        out=str(run.out),
        seconds=seconds,
    )
    with (run.stack.root / "load.log").open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])


@asynccontextmanager
async def loaded(run: Run, seconds: float = 90.0) -> AsyncIterator[subprocess.Popen[bytes]]:
    """Health watches on every service and the load process; both stopped (bounded) on exit."""
    stop = asyncio.Event()
    watches = []
    for served in run.services:
        run.health[served.target] = HealthLog()
        watches.append(asyncio.ensure_future(watch_health(served.target, run.health[served.target], stop)))
    load = start_load(run, seconds)
    try:
        await eventually(lambda: _acked(run) >= 20, within=60, what="the load under way")
        yield load
    finally:
        load.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(load.wait, 40)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
        stop.set()
        await asyncio.gather(*watches)


def _acked(run: Run) -> int:
    return sum(1 for line in run.lines() if line["code"] == "OK")


def new_run(stack: Stack, services: list[Served]) -> Run:
    """A run with ids of its own."""
    run_id = uuid.uuid4().hex[:6].upper()
    return Run(stack, run_id, stack.root / f"load-{run_id}.jsonl", services)
