"""`python -m bench.cluster`: one Valkey node against a 3-primary/3-replica Valkey Cluster, side by side.

Key-value get / set / compare-and-set / 50-key get_many, the planning read-model load, session Get and Put
over gRPC, and GetContext over gRPC (FalkorDB graph, read-models from Valkey), on three targets measured in
one run: a single node, the cluster with durable writes waiting for a replica (WAIT 1, the cluster default)
and the cluster without WAIT, so the last two columns give WAIT's cost. Writes
bench/results/cluster-<UTC stamp>.json and .md. Nothing here asserts about time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.driver import run_calls
from bench.report import RESULTS
from bench.scenarios import MEDIUM, Stub, populate
from bench.stats import quantile
from bench.stores import STORE_TIMEOUT_S, falkordb_settings, local_stores, serving
from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.config import Settings, ValkeySettings
from context_service.local_cluster import LocalCluster, valkey_cluster
from context_service.local_servers import LocalServer
from context_service.observability.logging import configure_logging
from fleet.context.session.v1 import session_pb2 as spb
from fleet.context.session.v1.session_pb2_grpc import SessionContextServiceStub
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1.context_pb2_grpc import ContextServiceStub

REQUESTS, ROUNDS = 600, 2
CONCURRENCY = (1, 8)  # one call at a time shows latency (and WAIT's round trip); eight, throughput
VALUE = '{"step": "review", "notes": "' + "n" * 200 + '"}'
DOCUMENT = {"story_id": "BENCH", "text": "x" * 1000, "versions": list(range(20))}
Call = Callable[[], Awaitable[object]]
Row = dict[str, dict[str, float]]  # target -> figure -> value
SessionStub = SessionContextServiceStub


@dataclass(frozen=True)
class Target:
    """One Valkey deployment under test and the settings that reach it."""

    name: str
    valkey: ValkeySettings


@dataclass(frozen=True)
class Opened:
    """A target with its adapters and a gRPC stub of the service running on it."""

    target: Target
    kv: ValkeyKeyValueStore
    planning: ValkeyPlanningStore
    stub: Stub
    sessions: SessionStub


def targets(single: LocalServer, cluster: LocalCluster) -> list[Target]:
    """One node, the cluster with WAIT 1, the cluster without WAIT."""
    return [
        Target("1 node", ValkeySettings(VALKEY_URL=single.url)),
        Target("cluster 3+3, WAIT 1", ValkeySettings(VALKEY_URL=cluster.url, VALKEY_CLUSTER=True)),
        Target(
            "cluster 3+3, no WAIT",
            ValkeySettings(VALKEY_URL=cluster.url, VALKEY_CLUSTER=True, VALKEY_WAIT_REPLICAS=0),
        ),
    ]


def scenarios(opened: Opened) -> dict[str, Call]:
    """Every measured call on one target (keys unique per target, so targets sharing a cluster do not
    collide)."""
    kv, tag = opened.kv, opened.target.name.replace(" ", "")
    serial = itertools.count()
    many = [f"bench:{tag}:many:{i}" for i in range(50)]

    read = pb.GetContextRequest(story_id=MEDIUM, role="developer", phase="BUILD")
    session = f"bench-{tag}"

    def put() -> Awaitable[object]:
        key = f"k{next(serial) % 50}"
        put_call: Awaitable[object] = opened.sessions.Put(
            spb.PutRequest(session_id=session, key=key, value_json=VALUE)
        )
        return put_call

    return {
        "kv get (1 KB)": lambda: kv.get(f"bench:{tag}:doc"),
        "kv set (1 KB)": lambda: kv.set(f"bench:{tag}:doc:{next(serial) % 500}", DOCUMENT),
        "kv compare_and_set (create)": lambda: kv.compare_and_set(
            f"bench:{tag}:cas:{next(serial)}", 0, DOCUMENT
        ),
        "kv get_many (50 keys)": lambda: kv.get_many(many),
        "planning read-model load": lambda: opened.planning.load(MEDIUM, ["developer", "qa"]),
        "session Put (gRPC)": put,
        "session Get (gRPC)": lambda: opened.sessions.Get(spb.GetRequest(session_id=session, key="k0")),
        "GetContext medium developer (gRPC)": lambda: opened.stub.GetContext(read),
    }


async def prepare(opened: Opened) -> None:
    """The documents the reads find, and the medium story."""
    tag = opened.target.name.replace(" ", "")
    await opened.kv.set(f"bench:{tag}:doc", DOCUMENT)
    await opened.kv.set_many({f"bench:{tag}:many:{i}": DOCUMENT for i in range(50)})
    await opened.planning.merge_spec(MEDIUM, {"story_id": MEDIUM, "title": "Medium story"})
    await populate(opened.stub, MEDIUM, 20, 10)
    await opened.sessions.Put(spb.PutRequest(session_id=f"bench-{tag}", key="k0", value_json=VALUE))


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Stub, SessionStub]]:
    """The service (context and session RPCs) on these settings, on a free loopback port; its stubs."""
    async with serving(settings) as channel:
        yield ContextServiceStub(channel), SessionContextServiceStub(channel)


@asynccontextmanager
async def opened_targets(found: list[Target], falkordb: LocalServer) -> AsyncIterator[list[Opened]]:
    """Each target with a client, its adapters and a service of its own (one FalkorDB graph each)."""
    async with AsyncExitStack() as stack:
        result = []
        for i, target in enumerate(found):
            client = ValkeyClient(settings=target.valkey, timeout_seconds=STORE_TIMEOUT_S)
            await stack.enter_async_context(client)
            settings = falkordb_settings(falkordb, target.valkey, graph=f"b{i}")
            stubs = await stack.enter_async_context(served(settings))
            kv = ValkeyKeyValueStore(client=client, prefix="")
            result.append(Opened(target, kv, ValkeyPlanningStore(client=client), *stubs))
        for opened in result:
            await prepare(opened)
        yield result


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    """Median, p95 (ms) and requests per second."""
    ordered = sorted(latencies)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(quantile(ordered, 0.95), 3),
        "rps": round(len(ordered) / elapsed, 1),
    }


async def measure_scenario(
    name: str, opened: list[Opened], calls: dict[str, dict[str, Call]], concurrency: int
) -> Row:
    """One scenario on every target; rounds alternate the target order so drift falls on all alike."""
    pooled: dict[str, tuple[list[float], float]] = {o.target.name: ([], 0.0) for o in opened}
    for o in opened:  # warm-up, not measured
        await run_calls(calls[o.target.name][name], 8, concurrency)
    for r in range(ROUNDS):
        for o in opened if r % 2 == 0 else reversed(opened):
            call = calls[o.target.name][name]
            latencies, elapsed = await run_calls(call, REQUESTS // ROUNDS, concurrency)
            before, spent = pooled[o.target.name]
            pooled[o.target.name] = (before + latencies, spent + elapsed)
    return {target: summary(*pooled[target]) for target in pooled}


async def measure(found: list[Target], falkordb: LocalServer) -> dict[str, Row]:
    """Every scenario on every target."""
    results: dict[str, Row] = {}
    async with opened_targets(found, falkordb) as opened:
        calls = {o.target.name: scenarios(o) for o in opened}
        for concurrency in CONCURRENCY:
            for name in calls[opened[0].target.name]:
                row = f"{name}, {concurrency} in flight"
                results[row] = await measure_scenario(name, opened, calls, concurrency)
                print(f"{row}: done", file=sys.stderr)
    return results


def markdown(report: dict[str, Any]) -> str:
    """A table per figure: one row per scenario, one column per target."""
    names = report["targets"]
    lines = [f"# Valkey: one node vs a 3+3 cluster ({report['when']})", ""]
    lines += [f"{REQUESTS} requests per scenario, target and concurrency, in {ROUNDS} rounds;"]
    lines += [f"{report['cpus']} CPUs shared, all servers on loopback.", ""]
    for figure in ("median_ms", "p95_ms", "rps"):
        lines += [f"## {figure}", "", "| scenario | " + " | ".join(names) + " |"]
        lines += ["|---" * (len(names) + 1) + "|"]
        for scenario, row in report["results"].items():
            lines.append(f"| {scenario} | " + " | ".join(str(row[n][figure]) for n in names) + " |")
        lines.append("")
    return "\n".join(lines)


@contextmanager
def servers() -> Iterator[tuple[LocalServer, LocalCluster, LocalServer]]:
    """A single Valkey and FalkorDB (the bench's local stores) and a 3+3 cluster; all stopped on exit."""
    with local_stores() as stores, tempfile.TemporaryDirectory(prefix="context-bench-cluster-") as tmp:
        cluster = valkey_cluster(Path(tmp))
        try:
            yield stores.valkey, cluster.start(), stores.falkordb
        finally:
            cluster.stop()


def main() -> int:
    """Start the servers, measure, stop them, write the report and print it."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    configure_logging(level="WARNING")
    try:
        with servers() as (single, cluster, falkordb):
            found = targets(single, cluster)
            results = asyncio.run(measure(found, falkordb))
    except KeyboardInterrupt:
        print("bench interrupted; local servers stopped, no report written", file=sys.stderr)
        return 130
    when = datetime.now(UTC)
    report = {
        "when": when.isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "targets": [t.name for t in found],
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"cluster-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    page = markdown(report)
    (RESULTS / f"cluster-{stamp}.md").write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
