"""Steady scenarios: one fixed request, the service and the echo driven alike by h2load, side by side."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import redis

from bench import h2load
from bench.h2load import Amount, Seconds, Shot
from bench.procs import Process
from bench.scenarios import Steady
from bench.stats import percentiles
from bench.wire import body_file, echo_path

RPC_COUNTER = "context_grpc_requests_total"
STORE_COUNTER = "context_store_call_seconds_count"


@dataclass(frozen=True)
class Plan:
    """How long each run lasts and how many rounds a scenario gets."""

    latency: Amount
    throughput: Amount
    rounds: int
    clients: int = 32
    soak_requests: int = 200_000
    sequenced_requests: int = 400


@dataclass
class Bench:
    """The processes under test and where the bodies and logs go."""

    service: Process
    echo: Process
    work: Path
    falkordb_url: str
    replica: Process | None = None
    second_echo: Process | None = None  # the scale-out's ceiling: two echo processes beside one
    workers: Process | None = None  # `serve --workers 2` on the same stores


def sampled_call(process: Process, steady: Steady) -> int:
    """One call with a real gRPC client: the serialized reply's size; raises unless the status is OK."""
    with grpc.insecure_channel(process.target) as channel:
        call = channel.unary_unary(steady.path, lambda m: m.SerializeToString())
        reply: bytes = call(steady.request, timeout=30)
    return len(reply)


def graph_queries(url: str) -> int:
    """GRAPH.* commands FalkorDB has run so far (each one round trip)."""
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return sum(int(v["calls"]) for name, v in stats.items() if name.startswith("cmdstat_graph."))


def service_run(bench: Bench, shot: Shot) -> dict[str, Any]:
    """One h2load run on the service, with its CPU, RSS, reply codes and store traffic around it."""
    service = bench.service
    codes = service.metric_counts(RPC_COUNTER, "code")
    stores = service.metric_counts(STORE_COUNTER, "operation")
    queries, cpu, rss = graph_queries(bench.falkordb_url), service.cpu_seconds(), service.rss_mb()
    load = h2load.run([service.target], shot, bench.work)[0]
    cpu = service.cpu_seconds() - cpu
    codes = service.metric_counts(RPC_COUNTER, "code") - codes
    stores = service.metric_counts(STORE_COUNTER, "operation") - stores
    answered = max(1, sum(codes.values()))
    queries = graph_queries(bench.falkordb_url) - queries
    return {
        **percentiles(load.latencies_ms),
        "rps": load.rps,
        "requests": load.done,
        "http_failed": load.failed,
        "replies_counted": sum(codes.values()),
        "non_ok": sum(codes.values()) - codes["OK"],
        "non_ok_codes": {code: n for code, n in codes.items() if code != "OK" and n},
        "cpu_ms_per_request": round(cpu * 1000 / answered, 3),
        "rss_mb_before": rss,
        "rss_mb_after": service.rss_mb(),
        "store_calls_per_request": round(sum(stores.values()) / answered, 2),
        "graph_queries_per_request": round(queries / answered, 2),
    }


def echo_run(bench: Bench, shot: Shot) -> dict[str, Any]:
    """One h2load run on the echo (the shot's method is the echo path of the same reply size)."""
    load = h2load.run([bench.echo.target], shot, bench.work)[0]
    return {**percentiles(load.latencies_ms), "rps": load.rps, "requests": load.done}


def one_round(bench: Bench, steady: Steady, plan: Plan, reverse: bool) -> dict[str, Any]:
    """Latency at 1 client and throughput at `plan.clients`, service and echo (order alternates)."""
    body = body_file(bench.work, "steady", steady.request)
    reply_bytes = sampled_call(bench.service, steady)
    modes = (("latency", 1, plan.latency), ("throughput", plan.clients, plan.throughput))
    measured: dict[str, Any] = {}
    for who in ("echo", "service") if reverse else ("service", "echo"):
        for mode, clients, amount in modes:
            if who == "service":
                shot = Shot(steady.path, body, clients, amount)
                measured[f"service_{mode}"] = service_run(bench, shot)
            else:
                measured[f"echo_{mode}"] = echo_run(
                    bench, Shot(echo_path(reply_bytes), body, clients, amount)
                )
    if steady.same_reply_size and sampled_call(bench.service, steady) != reply_bytes:
        raise RuntimeError(f"{steady.name}: the reply changed size during the run")
    measured["reply_bytes"] = reply_bytes
    return measured


@dataclass(frozen=True)
class Spread:
    """req/s on one process and on two, and the cores those processes kept busy meanwhile."""

    one_rps: float
    two_rps: float
    one_cores: float
    two_cores: float

    def requests_per_core_second(self) -> tuple[float, float]:
        """req/s per busy core, on one process and on two: equal when nothing serializes the two."""
        return round(self.one_rps / self.one_cores, 1), round(self.two_rps / self.two_cores, 1)

    def speed_up(self) -> float:
        """req/s on two processes against one."""
        return round(self.two_rps / self.one_rps, 3)

    def per_core_ratio(self) -> float:
        """req/s per busy core on two processes against one."""
        one, two = self.requests_per_core_second()
        return round(two / one, 3)


def _busy(targets: Sequence[Process], shot: Shot, work: Path) -> tuple[float, float]:
    """req/s of one h2load run on `targets` (the shot's clients on each) and the cores they kept busy."""
    cpu = sum(p.cpu_seconds() for p in targets)
    started = time.perf_counter()
    loads = h2load.run([p.target for p in targets], shot, work)
    cores = (sum(p.cpu_seconds() for p in targets) - cpu) / (time.perf_counter() - started)
    return round(sum(load.rps for load in loads), 1), cores


def one_and_two(targets: tuple[Process, Process], path: str, body: Path, plan: Plan, work: Path) -> Spread:
    """req/s at `plan.clients` on the first process, then on both at half the clients each."""
    one, one_cores = _busy(targets[:1], Shot(path, body, plan.clients, plan.throughput), work)
    two, two_cores = _busy(targets, Shot(path, body, plan.clients // 2, plan.throughput), work)
    return Spread(one, two, one_cores, two_cores)


def scale_out_round(bench: Bench, steady: Steady, plan: Plan) -> dict[str, Any]:
    """Two replicas sharing the stores against one; then two echo processes against one (same reply size),
    which is what this machine allows two server processes beside the load generator."""
    assert bench.replica is not None
    assert bench.second_echo is not None
    body = body_file(bench.work, "scale", steady.request)
    replicas = (bench.service, bench.replica)
    before = [p.metric_counts(RPC_COUNTER, "code") for p in replicas]
    service = one_and_two(replicas, steady.path, body, plan, bench.work)
    after = [p.metric_counts(RPC_COUNTER, "code") for p in replicas]
    delta: Counter[str] = sum((a - b for a, b in zip(after, before, strict=True)), Counter())
    workers, workers_codes = _workers_round(bench, steady.path, body, plan)
    delta += workers_codes
    echo_at = echo_path(sampled_call(bench.service, steady))
    echo = one_and_two((bench.echo, bench.second_echo), echo_at, body, plan, bench.work)
    per_core_one, per_core_two = service.requests_per_core_second()
    return {
        "one_replica_rps": service.one_rps,
        "two_replicas_rps": service.two_rps,
        "speed_up": service.speed_up(),
        "one_replica_cores": round(service.one_cores, 2),
        "two_replicas_cores": round(service.two_cores, 2),
        "one_replica_rps_per_core": per_core_one,
        "two_replicas_rps_per_core": per_core_two,
        "per_core_ratio": service.per_core_ratio(),
        **workers,
        "workers_speed_up": round(workers["workers_rps"] / service.one_rps, 3),
        "echo_one_rps": echo.one_rps,
        "echo_two_rps": echo.two_rps,
        "echo_speed_up": echo.speed_up(),
        "echo_per_core_ratio": echo.per_core_ratio(),
        "non_ok": sum(delta.values()) - delta["OK"],
    }


def _workers_round(bench: Bench, path: str, body: Path, plan: Plan) -> tuple[dict[str, Any], Counter[str]]:
    """req/s at `plan.clients` on one `serve --workers 2` port and the cores its workers kept busy; the
    reply codes it sent meanwhile."""
    assert bench.workers is not None
    before = bench.workers.metric_counts(RPC_COUNTER, "code")
    rps, cores = _busy((bench.workers,), Shot(path, body, plan.clients, plan.throughput), bench.work)
    codes = bench.workers.metric_counts(RPC_COUNTER, "code") - before
    return {"workers_rps": rps, "workers_cores": round(cores, 2)}, codes


def soak(bench: Bench, steady: Steady, plan: Plan) -> dict[str, Any]:
    """RSS of the service before and after `plan.soak_requests` requests at `plan.clients` clients."""
    body = body_file(bench.work, "soak", steady.request)
    run = service_run(bench, Shot(steady.path, body, plan.clients, plan.soak_requests))
    growth = (run["rss_mb_after"] - run["rss_mb_before"]) / run["rss_mb_before"] * 100
    keep = ("requests", "non_ok", "rps", "rss_mb_before", "rss_mb_after", "cpu_ms_per_request")
    return {"scenario": steady.name, **{k: run[k] for k in keep}, "rss_growth_percent": round(growth, 2)}


QUICK = Plan(
    latency=Seconds(3), throughput=Seconds(3), rounds=2, soak_requests=20_000, sequenced_requests=100
)
FULL = Plan(latency=Seconds(10), throughput=Seconds(10), rounds=2)
