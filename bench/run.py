"""`make bench`: latency of the main RPCs over real in-process gRPC, side by side in one run.

Writes bench/results/<UTC timestamp>.json and .md. Nothing here asserts about time.
"""

from __future__ import annotations

import asyncio
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.policy_file import load_policy
from context_service.bootstrap import memory_adapters, wire
from context_service.domain.redaction import redact
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

ROLES = ("architect", "developer", "devops", "qa", "data")
RESULTS = Path(__file__).parent / "results"


async def populate(
    stub: context_pb2_grpc.ContextServiceStub, story_id: str, tasks: int, decisions: int
) -> None:
    """A story with `tasks` tasks over every role and `decisions` decisions linked to them."""
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id=story_id, title=f"Story {story_id}", initial_phase="BUILD")
    )
    for i in range(tasks):
        deps = [f"{story_id}-T{i - 1}"] if i else []
        await stub.CreateTask(
            pb.CreateTaskRequest(
                story_id=story_id,
                task_id=f"{story_id}-T{i}",
                title=f"Task {i} of {story_id}",
                description=f"Implement part {i}; keep the public API stable and document the change. " * 2,
                role=ROLES[i % len(ROLES)],
                dependencies=deps,
                priority=1 + i % 5,
            )
        )
    for i in range(decisions):
        await stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(
                story_id=story_id,
                decision_type="ARCHITECTURE",
                title=f"Decision {i}",
                rationale="Because the trade-off favours simplicity and operability. " * 2,
                metadata={"role": "architect", "task_ids": f"{story_id}-T{i % tasks}"},
            )
        )


async def measure(
    call: Callable[[], Awaitable[object]], iterations: int, concurrency: int
) -> dict[str, float]:
    """Median, p95 and throughput of `iterations` calls with `concurrency` in flight."""
    latencies: list[float] = []
    queue = iter(range(iterations))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "rps": round(iterations / elapsed, 1),
        "iterations": iterations,
        "concurrency": concurrency,
    }


async def scenarios(stub: context_pb2_grpc.ContextServiceStub) -> dict[str, dict[str, float]]:
    """Every scenario, measured one after another in the same process."""
    await populate(stub, "BENCH-M", 20, 10)
    await populate(stub, "BENCH-L", 200, 100)
    counter = iter(range(10**9))

    def get(story: str, role: str, budget: int = 0) -> Callable[[], Awaitable[object]]:
        request = pb.GetContextRequest(story_id=story, role=role, phase="BUILD", token_budget=budget)
        return lambda: stub.GetContext(request)

    def update() -> Awaitable[object]:
        change = pb.ContextChange(
            operation="CREATE",
            entity_type="MILESTONE",
            entity_id=f"M-{next(counter)}",
            payload='{"event_type": "bench", "description": "tick"}',
        )
        return stub.UpdateContext(
            pb.UpdateContextRequest(story_id="BENCH-M", role="developer", changes=[change])
        )

    def create_task() -> Awaitable[object]:
        n = next(counter)
        return stub.CreateTask(
            pb.CreateTaskRequest(
                story_id="BENCH-L",
                task_id=f"BENCH-L-X{n}",
                title=f"Extra task {n}",
                role="developer",
                dependencies=["BENCH-L-T0"],
            )
        )

    rehydrate = pb.RehydrateSessionRequest(case_id="BENCH-L", roles=list(ROLES), include_timeline=True)
    return {
        "GetContext medium developer": await measure(get("BENCH-M", "developer"), 400, 8),
        "GetContext large architect (all subtasks)": await measure(get("BENCH-L", "architect"), 100, 4),
        "GetContext large architect budget 2000": await measure(get("BENCH-L", "architect", 2000), 100, 4),
        "GetContext large qa (compact)": await measure(get("BENCH-L", "qa"), 200, 8),
        "UpdateContext medium, 1 change": await measure(update, 400, 8),
        "RehydrateSession large, 5 roles": await measure(lambda: stub.RehydrateSession(rehydrate), 100, 4),
        # Last: it grows the large story, which the scenarios above read.
        "CreateTask into the large story": await measure(create_task, 400, 8),
    }


def redaction_ms() -> float:
    """Median time to redact a 100 KB context block with a few secrets in it."""
    block = ("Rationale: keep the gateway stateless; password=hunter2 rotated weekly. " * 1400)[:100_000]
    runs = []
    for _ in range(15):
        started = time.perf_counter()
        redact(block)
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 3)


async def main() -> int:
    """Run everything, write the reports, print the markdown."""
    container = wire(memory_adapters(), load_policy())
    server = GrpcServer(use_cases=container.use_cases, host="127.0.0.1", port=0)
    async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        results = await scenarios(context_pb2_grpc.ContextServiceStub(channel))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "backend": "memory",
        "scenarios": results,
        "redact_100kb_median_ms": redaction_ms(),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Benchmark {report['when']} (backend {report['backend']}, Python {report['python']})",
        "",
        "| scenario | median ms | p95 ms | req/s | n | concurrency |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {r['median_ms']} | {r['p95_ms']} | {r['rps']} | {r['iterations']} | {r['concurrency']} |"
        for name, r in results.items()
    ]
    lines += [
        "",
        f"Redacting a 100 KB block: median {report['redact_100kb_median_ms']} ms.",
        f"Peak RSS of the process: {report['max_rss_mb']} MB.",
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
