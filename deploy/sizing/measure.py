"""Measure the service's own CPU and memory under a steady gRPC load, to size the pod's requests and limits.

Starts `context-service serve --demo` on the in-memory backend, drives GetContext (80 %) and UpdateContext
(20 %) open-loop at a fixed rate, and reads the server process's /proc/<pid>/stat (utime + stime) and
/proc/<pid>/status (VmRSS, VmHWM). Prints a JSON report; asserts nothing. Linux only; needs the generated
stubs (`make gen`).

    .venv/bin/python deploy/sizing/measure.py --rate 300 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

TICKS = os.sysconf("SC_CLK_TCK")
ROLES = ("architect", "developer", "devops", "qa", "data")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of the process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


async def wait_serving(channel: grpc.aio.Channel, deadline: float) -> None:
    """Poll the overall health status until SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    while time.monotonic() < deadline:
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the service did not report SERVING in time")


async def seed(stub: context_pb2_grpc.ContextServiceStub) -> None:
    """A medium story to read (20 tasks over every role) and an empty one to write into."""
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id="LOAD-R", title="Read story", initial_phase="BUILD")
    )
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id="LOAD-W", title="Write story", initial_phase="BUILD")
    )
    for i in range(20):
        await stub.CreateTask(
            pb.CreateTaskRequest(
                story_id="LOAD-R",
                task_id=f"LOAD-R-T{i}",
                title=f"Task {i}",
                description="Implement the part and document the change. " * 3,
                role=ROLES[i % len(ROLES)],
                dependencies=[f"LOAD-R-T{i - 1}"] if i else [],
                priority=1 + i % 5,
            )
        )


def calls(stub: context_pb2_grpc.ContextServiceStub) -> Callable[[int], Awaitable[object]]:
    """Request number n: every fifth an UpdateContext, the rest GetContext over the roles."""

    async def call(n: int) -> object:
        if n % 5 == 4:
            change = pb.ContextChange(
                operation="CREATE",
                entity_type="MILESTONE",
                entity_id=f"M-{n}",
                payload='{"event_type": "load", "description": "tick"}',
            )
            return await stub.UpdateContext(
                pb.UpdateContextRequest(story_id="LOAD-W", role="developer", changes=[change]), timeout=5
            )
        request = pb.GetContextRequest(story_id="LOAD-R", role=ROLES[n % len(ROLES)], phase="BUILD")
        reply: object = await stub.GetContext(request, timeout=5)
        return reply

    return call


async def drive(call: Callable[[int], Awaitable[object]], rate: float, seconds: float) -> dict[str, int]:
    """Open-loop: start one request every 1/rate s for `seconds`, whatever the replies do."""
    outcomes: dict[str, int] = {}
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        try:
            await call(n)
            code = "OK"
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
        outcomes[code] = outcomes.get(code, 0) + 1

    started = time.monotonic()
    for n in itertools.count():
        due = started + n / rate
        if due - started >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return outcomes


async def sample_rss(pid: int, stop: asyncio.Event, into: list[float]) -> None:
    """VmRSS every 0.5 s until stopped."""
    while not stop.is_set():
        into.append(memory_mib(pid)["VmRSS"])
        await asyncio.sleep(0.5)


async def measure(pid: int, address: str, rate: float, seconds: float, warmup: float) -> dict[str, object]:
    """Seed, warm up, then load for `seconds` while sampling the server process."""
    async with grpc.aio.insecure_channel(address) as channel:
        await wait_serving(channel, time.monotonic() + 30)
        idle = memory_mib(pid)
        stub = context_pb2_grpc.ContextServiceStub(channel)
        await seed(stub)
        await drive(calls(stub), rate, warmup)
        samples: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, stop, samples))
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        outcomes = await drive(calls(stub), rate, seconds)
        cpu_after, wall_after = cpu_seconds(pid), time.monotonic()
        stop.set()
        await sampler
    wall = wall_after - wall_before
    return {
        "rate_target_rps": rate,
        "rate_achieved_rps": round(sum(outcomes.values()) / wall, 1),
        "window_s": round(wall, 1),
        "outcomes": outcomes,
        "cpu_cores_mean": round((cpu_after - cpu_before) / wall, 3),
        "rss_idle_mib": round(idle["VmRSS"], 1),
        "rss_mean_mib": round(sum(samples) / len(samples), 1),
        "rss_max_sampled_mib": round(max(samples), 1),
        "rss_peak_hwm_mib": round(memory_mib(pid)["VmHWM"], 1),
    }


def main() -> int:
    """Start the server, measure, stop it, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before the window")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "GRAPH_BACKEND": "memory", "ENABLE_NATS": "false", "GRPC_PORT": str(port)}
    env |= {"METRICS_PORT": "0", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"}
    binary = Path(sys.executable).with_name("context-service")
    server = subprocess.Popen([str(binary), "serve", "--demo"], env=env, stdout=subprocess.DEVNULL)
    try:
        report = asyncio.run(measure(server.pid, f"127.0.0.1:{port}", args.rate, args.seconds, args.warmup))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(), **report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
