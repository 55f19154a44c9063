"""Metrics stay correct when `serve --workers N` sums the workers' values in one endpoint."""

from __future__ import annotations

from prometheus_client import Gauge

from context_service.observability import metrics

LIVE_MODES = {"livesum", "livemin", "livemax", "liveall", "livemostrecent"}


def test_every_gauge_says_how_the_live_workers_values_combine() -> None:
    gauges = {name: value for name, value in vars(metrics).items() if isinstance(value, Gauge)}

    assert gauges  # the module's gauges were found
    # The default ("all") would label each value by process id and keep a stopped worker's last value.
    assert {
        name: g._multiprocess_mode for name, g in gauges.items() if g._multiprocess_mode not in LIVE_MODES
    } == {}
