"""The JSON, Markdown and PNG reports of one bench run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def save(prefix: str, stamp: str, text: str, data: Any) -> None:
    """A report as bench/results/<prefix>-<stamp>.md (`text`, also printed) and .json (`data`)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{prefix}-{stamp}.md").write_text(text)
    (RESULTS / f"{prefix}-{stamp}.json").write_text(json.dumps(data, indent=2) + "\n")
    print(text)


def _ms(figures: dict[str, Any]) -> str:
    return f"{figures['p50']} / {figures['p90']} / {figures['p99']} / {figures['max']}"


def _checked(runs: list[dict[str, Any]]) -> str:
    """Non-OK replies over all replies the service sent in every run of a scenario."""
    runs_ = [run[key] for run in runs for key in ("service_latency", "service_throughput")]
    codes: Counter[str] = sum((Counter(r["non_ok_codes"]) for r in runs_), Counter())
    named = f" ({', '.join(f'{n} {code}' for code, n in sorted(codes.items()))})" if codes else ""
    return f"{sum(codes.values())}{named} / {sum(r['replies_counted'] for r in runs_):,}"


def _steady_line(row: dict[str, Any]) -> str:
    service, echo = row["service_latency"], row["echo_latency"]
    busy, echo_busy = row["service_throughput"], row["echo_throughput"]
    cells = [
        row["scenario"],
        f"{row['reply_bytes']:,}",
        _ms(service),
        _ms(echo),
        busy["rps"],
        echo_busy["rps"],
        f"{row['rps_vs_echo'] * 100:.0f} %",
        busy["cpu_ms_per_request"],
        f"{busy['rss_mb_before']} → {busy['rss_mb_after']}",
        busy["store_calls_per_request"],
        busy["graph_queries_per_request"],
        _checked(row["runs"]),
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _sequenced_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| scenario | reply bytes | clients | service p50 / p90 / p99 / max ms"
        " | echo p50 / p90 / p99 / max ms | service req/s | echo req/s | non-OK |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for key in sorted(k for k in row if k.startswith("service_")):
            clients = key.removeprefix("service_")
            service, echo = row[key], row[f"echo_{clients}"]
            cells = [row["scenario"], f"{row['reply_bytes']:,}", clients, _ms(service), _ms(echo)]
            cells += [service["rps"], echo["rps"], row["non_ok"]]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def _scale_line(row: dict[str, Any]) -> str:
    cells = [row["scenario"], row["one_replica_rps"], row["two_replicas_rps"], f"{row['speed_up']}×"]
    cells += [
        f"{row['one_replica_cores']} / {row['two_replicas_cores']}",
        f"{row['one_replica_rps_per_core']} / {row['two_replicas_rps_per_core']}",
        f"{row['per_core_ratio']}×",
    ]
    if "workers_rps" in row:  # reports written before `serve --workers` was measured have none
        cells += [row["workers_rps"], f"{row['workers_speed_up']}×", row["workers_cores"]]
    else:
        cells += ["", "", ""]
    echo = [
        f"{row['echo_one_rps']} / {row['echo_two_rps']}",
        f"{row['echo_speed_up']}×",
        f"{row['echo_per_core_ratio']}×",
    ]
    return "| " + " | ".join(str(c) for c in [*cells, *echo, row["non_ok"]]) + " |"


def markdown(report: dict[str, Any], chart: str) -> str:
    """The report as a Markdown page."""
    plan, soak = report["plan"], report["soak"]
    lines = [
        f"# Benchmark {report['when']}{' (quick)' if report['quick'] else ''}",
        "",
        f"{report['cpus']} CPUs ({report['machine']}, load average at the end {report['load_average']}),"
        f" Python {report['python']}, {', '.join(f'{k} {v}' for k, v in report['versions'].items())}.",
        f"The service runs as its own process on FalkorDB + Valkey + NATS (local servers), logging at INFO;"
        " the echo is a bare grpc.aio server answering the same number of bytes; both run on the"
        f" {report.get('event_loop', 'asyncio')} event loop. Each figure is the median"
        f" of {plan['rounds']} rounds (service and echo alternate order); ratios are taken within a round."
        f" Latency runs: 1 client, {plan['latency']}; throughput runs: {plan['clients']} clients,"
        f" {plan['throughput']} (h2load, one stream per connection).",
        "",
        "## Steady requests (h2load)",
        "",
        "| scenario | reply bytes | service 1 client p50 / p90 / p99 / max ms | echo 1 client ms"
        f" | service req/s at {plan['clients']} | echo req/s | vs echo | CPU ms/req | RSS MB"
        " | store calls/req | graph queries/req | non-OK / replies |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(_steady_line(row) for row in report["steady"]),
        "",
        "Non-OK counts every reply the service sent in the runs, from its `context_grpc_requests_total`;"
        " a sampled call with a real gRPC client before and after each round checks the reply too. A timed"
        " h2load run resets the streams still in flight when its time is up: those end CANCELLED (at most one"
        " per client and run).",
        "",
        f"![service vs echo]({chart})",
        "",
        "## Scale-out: two replicas on the same stores",
        "",
        f"{plan['clients']} clients on one process, then half of them on each of two. The echo's speed-up,"
        " two echo processes against one with the same reply size in the same round, is what this machine"
        " allows two server processes beside the load generator. Speed-ups are taken within a round."
        " Cores: the CPU time the replicas used per second of the run (user + system, /proc); req/s per"
        " core staying the same with two replicas means nothing serializes them, so the speed-up is what the"
        " cores left beside the load generator allow; the echo's per-core figure shows what running two"
        " processes beside the load generator costs on this machine by itself. `--workers 2`: one"
        " `serve --workers 2` (two worker processes on one port, SO_REUSEPORT) with all the clients, its"
        " speed-up against one replica and the cores its workers kept busy.",
        "",
        "| scenario | one replica req/s | two replicas req/s | speed-up | cores busy: one / two"
        " | req/s per core: one / two | per core, two against one | `--workers 2` req/s | `--workers 2`"
        " speed-up | `--workers 2` cores | echo: one / two processes req/s"
        " | echo speed-up | echo per core, two against one | non-OK |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(_scale_line(r) for r in report["scale_out"]),
        "",
        "## Memory",
        "",
        f"{soak['scenario']}, {soak['requests']:,} requests at {plan['clients']} clients after every steady"
        f" scenario: RSS {soak['rss_mb_before']} → {soak['rss_mb_after']} MB"
        f" ({soak['rss_growth_percent']} %),"
        f" {soak['rps']} req/s, {soak['non_ok']} non-OK.",
        "",
        "## Writes and first reads after a write (grpc.aio client in the bench process)",
        "",
        *_sequenced_lines(report["sequenced"]),
        "",
    ]
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> None:
    """Service vs echo p50 and p99 at 1 client for every steady scenario, log scale."""
    import matplotlib  # noqa: PLC0415 — only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = report["steady"]
    names = [row["scenario"] for row in rows]
    series = [
        ("service p50", [r["service_latency"]["p50"] for r in rows]),
        ("service p99", [r["service_latency"]["p99"] for r in rows]),
        ("echo p50", [r["echo_latency"]["p50"] for r in rows]),
        ("echo p99", [r["echo_latency"]["p99"] for r in rows]),
    ]
    figure, axes = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, (label, values) in enumerate(series):
        axes.bar([x + i * width for x in range(len(rows))], values, width, label=label)
    axes.set_yscale("log")
    axes.set_ylabel("ms at 1 client (log)")
    axes.set_xticks([x + 1.5 * width for x in range(len(rows))], names, rotation=20, ha="right", fontsize=8)
    axes.legend()
    axes.set_title(f"Service vs echo, same reply bytes ({report['when']})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(report: dict[str, Any], stamp: str) -> str:
    """Write results/<stamp>.json, .md and .png; return the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    png = RESULTS / f"{stamp}.png"
    chart(report, png)
    page = markdown(report, png.name)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stamp}.md").write_text(page)
    return page
