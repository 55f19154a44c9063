"""Regenerate the figures table of docs/reliability.md from the scenarios' JSON files (`make test-chaos`).

`python -m bench.reliability [results-dir] [document]`; the table sits between two marker comments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = report.RESULTS / "chaos"
DOCUMENT = ROOT / "docs/reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
ORDER = ["kill-falkordb", "kill-valkey", "kill-nats", "pause-valkey", "kill-service", "kill-replica"]
COLUMNS = (
    "scenario",
    "attempts",
    "errors by code",
    "outage s",
    "to NOT_SERVING s",
    "health back s",
    "recovery s",
    "writes acked / lost / duplicated",
    "events missing / duplicated",
    "dead-lettered",
    "log leaks",
)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def row(figures: dict[str, Any]) -> str:
    """One scenario as a table row."""
    codes = ", ".join(f"{code} {n}" for code, n in figures["errors_by_code"].items()) or "none"
    cells = [
        figures["scenario"],
        str(figures["attempts"]),
        codes,
        _seconds(figures.get("outage_s")),
        _seconds(figures["to_not_serving_s"]),
        _seconds(figures["health_back_s"]),
        _seconds(figures["recovery_s"]),
        f"{figures['writes_acked']} / {figures['writes_lost']} / {figures['writes_duplicated']}",
        f"{figures['events_missing']} / {figures['events_duplicated']}",
        str(figures["dead_lettered"]),
        str(figures["leaked_log_lines"]),
    ]
    return "| " + " | ".join(cells) + " |"


def table(results: Path) -> str:
    """The Markdown table of every scenario found, in campaign order, with when they were measured."""
    found = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(results.glob("*.json"))}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [row(found[name]) for name in names]
    stamps = sorted(found[name]["measured_at"] for name in names)
    if stamps:
        lines.append(f"\nMeasured {stamps[0]} – {stamps[-1]} (UTC).")
    return "\n".join(lines)


def regenerate(results: Path = RESULTS, document: Path = DOCUMENT) -> None:
    """Replace the text between the markers with the current table."""
    text = document.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    document.write_text(f"{head}{START}\n{table(results)}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    regenerate(*args)
