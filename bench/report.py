"""The JSON and Markdown reports of one bench run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.measure import Tally
from bench.stores import FALKORDB, MEMORY

RESULTS = Path(__file__).parent / "results"


def rows(results: dict[str, dict[str, Tally]]) -> list[dict[str, Any]]:
    """One row per scenario and backend; non-memory rows carry their median over memory's."""
    out = []
    for scenario, tallies in results.items():
        memory_median = tallies[MEMORY].summary()["median_ms"]
        for backend, tally in tallies.items():
            row = {"scenario": scenario, "backend": backend, **tally.summary()}
            if backend != MEMORY:
                row["median_vs_memory"] = round(row["median_ms"] / memory_median, 2)
            out.append(row)
    return out


def _table_line(row: dict[str, Any]) -> str:
    ratio = f"{row['median_vs_memory']}×" if "median_vs_memory" in row else ""
    calls = round(sum(row["store_calls_per_request"].values()), 2)
    queries = row["falkordb_queries_per_request"] if row["backend"] == FALKORDB else ""
    cells = [row["scenario"], row["backend"], row["requests"], row["concurrency"], row["median_ms"]]
    cells += [row["p95_ms"], row["rps"], ratio, queries, calls if row["backend"] == FALKORDB else ""]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _calls_by_operation(table: list[dict[str, Any]]) -> list[str]:
    lines = ["", f"Store calls per request by operation ({FALKORDB}):", ""]
    for row in table:
        if row["backend"] == FALKORDB:
            ops = ", ".join(f"{op} {n}" for op, n in row["store_calls_per_request"].items())
            lines.append(f"- {row['scenario']}: {ops or 'none'}")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    lines = [
        f"# Benchmark {report['when']} ({MEMORY} and {FALKORDB} side by side, Python {report['python']})",
        "",
        f"{report['cpus']} CPUs, {report['machine']}; servers: {report['servers']}. Both backends run in"
        f" this one process on the same data with the same requests and concurrency; each scenario"
        f" alternates them over {report['rounds']} rounds after an unmeasured warm-up; the service logs"
        " at WARNING. Compare figures only within one report.",
        "",
        "| scenario | backend | n | concurrency | median ms | p95 ms | req/s | median vs memory"
        " | FalkorDB queries/req | store calls/req |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_table_line(row) for row in report["results"]]
    lines += _calls_by_operation(report["results"])
    lines += [
        "",
        "FalkorDB queries are GRAPH.* commands counted by the server (each one round trip); store calls"
        " come from the `context_store_call_seconds` histogram (a Valkey call is one pipeline; a FalkorDB"
        " commit call is a preflight and a write query).",
        "",
        f"Redacting a 100 KB block: median {report['redact_100kb_median_ms']} ms.",
        f"Peak RSS of the process (both backends): {report['max_rss_mb']} MB.",
        "",
    ]
    return "\n".join(lines)


def write(report: dict[str, Any], stamp: str) -> str:
    """Write results/<stamp>.json and .md; return the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    page = markdown(report)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stamp}.md").write_text(page)
    return page
