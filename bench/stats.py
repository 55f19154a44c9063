"""Percentiles and medians over runs, rounded for the reports."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of values sorted in ascending order."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of one run's latencies (nearest rank), in ms."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    rank = {f"p{round(q * 100)}": round(quantile(ordered, q), 3) for q in (0.50, 0.90, 0.99)}
    return {**rank, "max": round(ordered[-1], 3)}


def median_of(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over runs of numeric values (other values from the first run)."""
    runs = list(runs)
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs if key in run]
        numeric = isinstance(first, int | float) and not isinstance(first, bool)
        merged[key] = round(statistics.median(values), 3) if numeric else first
    return merged


def ratio_of_rounds(rounds: Iterable[dict[str, Any]], part: str, whole: str) -> float:
    """The median over rounds of `part`'s req/s over `whole`'s in the same round (with two rounds, the mean
    of the two: neither round's figure alone)."""
    ratios: list[float] = [r[part]["rps"] / r[whole]["rps"] for r in rounds]
    return round(statistics.median(ratios), 3)
