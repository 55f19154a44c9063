"""`python -m bench.admin`: export, import and GetHistory of the large story on FalkorDB with Valkey.

The large story (200 tasks, 100 decisions) is filled up to 1,000 history records with UpdateContext, then:
ExportStory and ImportStory (replace) of it, each timed over several runs, and GetHistory pages of 50 at
one client. Writes bench/results/admin-<UTC timestamp>.json and .md; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bench.driver import run_calls
from bench.report import RESULTS
from bench.scenarios import LARGE, populate
from bench.stats import quantile
from bench.stores import falkordb_valkey_settings, local_stores, serving
from context_service.observability.logging import configure_logging
from fleet.context.admin.v1 import admin_pb2 as admin
from fleet.context.admin.v1 import admin_pb2_grpc
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

HISTORY_RECORDS = 1000
CHANGES_PER_CALL = 100
SNAPSHOT_RUNS = 7
HISTORY_PAGES = 500
PAGE_SIZE = 50


@asynccontextmanager
async def stubs() -> AsyncIterator[
    tuple[context_pb2_grpc.ContextServiceStub, admin_pb2_grpc.ContextAdminServiceStub]
]:
    """The service on FalkorDB+Valkey (local servers, free ports) and stubs of both its services."""
    with local_stores() as stores:
        async with serving(falkordb_valkey_settings(stores)) as channel:
            yield (
                context_pb2_grpc.ContextServiceStub(channel),
                admin_pb2_grpc.ContextAdminServiceStub(channel),
            )


async def story_with_history(
    stub: context_pb2_grpc.ContextServiceStub, admin_stub: admin_pb2_grpc.ContextAdminServiceStub
) -> None:
    """The large story (its creation writes records too), then UpdateContext calls up to HISTORY_RECORDS."""
    await populate(stub, LARGE, 200, 100)
    exported = await admin_stub.ExportStory(admin.ExportStoryRequest(story_id=LARGE))
    left = HISTORY_RECORDS - len(json.loads(exported.document_json)["history"])
    for call in range(0, left, CHANGES_PER_CALL):
        changes = [
            pb.ContextChange(
                operation="UPDATE",
                entity_type="SUBTASK",
                entity_id=f"{LARGE}-T{(call + i) % 200}",
                payload=json.dumps({"description": f"Revised in round {call}."}),
                reason=f"bench round {call}",
            )
            for i in range(min(CHANGES_PER_CALL, left - call))
        ]
        await stub.UpdateContext(pb.UpdateContextRequest(story_id=LARGE, role="developer", changes=changes))


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> dict[str, float]:
    """`runs` sequential calls: median, p99 and max in ms, and this process's CPU time per call (service and
    client together: a figure the machine's load inflates far less than the latencies)."""
    cpu = time.process_time()
    latencies, _ = await run_calls(call, runs, 1)
    cpu_ms = (time.process_time() - cpu) * 1000 / runs
    ordered = sorted(latencies)
    return {
        "runs": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(quantile(ordered, 0.99), 2),
        "max_ms": round(ordered[-1], 2),
        "cpu_ms_per_call": round(cpu_ms, 2),
    }


async def measure() -> dict[str, Any]:
    """Every figure of the report."""
    load_before = round(os.getloadavg()[0], 2)
    async with stubs() as (stub, admin_stub):
        await story_with_history(stub, admin_stub)
        exported = await admin_stub.ExportStory(admin.ExportStoryRequest(story_id=LARGE))
        document = json.loads(exported.document_json)
        export = await timed(
            lambda: admin_stub.ExportStory(admin.ExportStoryRequest(story_id=LARGE)), SNAPSHOT_RUNS
        )
        request = admin.ImportStoryRequest(document_json=exported.document_json, replace=True)
        imported = await timed(lambda: admin_stub.ImportStory(request), SNAPSHOT_RUNS)
        again = await admin_stub.ExportStory(admin.ExportStoryRequest(story_id=LARGE))
        pages = [admin.GetHistoryRequest(story_id=LARGE, page_size=PAGE_SIZE)]
        history = await timed(lambda: admin_stub.GetHistory(pages[0]), HISTORY_PAGES)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": "falkordb+valkey",
        "cpus": os.cpu_count(),
        "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
        "story": {
            "tasks": len(document["tasks"]),
            "decisions": len(document["decisions"]),
            "edges": len(document["edges"]),
            "history_records": len(document["history"]),
            "document_bytes": len(exported.document_json.encode()),
        },
        "export": export,
        "import_replace": imported,
        "round_trip_identical": again.document_json == exported.document_json,
        f"get_history_page_{PAGE_SIZE}_1_client": history,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a small Markdown table."""
    lines = [
        f"# Admin benchmark {report['when']} ({report['backend']})",
        "",
        f"Story: {report['story']}",
        "",
        f"Export -> import -> export identical: {report['round_trip_identical']}",
        "",
        f"Load average (1 min) at start and end: {report['load_average_1m']} on {report['cpus']} CPUs",
        "",
        "| operation | runs | median ms | p99 ms | max ms | CPU ms per call |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("export", "import_replace", f"get_history_page_{PAGE_SIZE}_1_client"):
        row = report[name]
        lines.append(
            f"| {name} | {row['runs']} | {row['median_ms']} | {row['p99_ms']} | {row['max_ms']} "
            f"| {row['cpu_ms_per_call']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run, write the reports, print the Markdown."""
    configure_logging(level="WARNING")
    report = asyncio.run(measure())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"admin-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = markdown(report)
    (RESULTS / f"admin-{stamp}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
