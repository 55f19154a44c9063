"""The figures table of docs/reliability.md is rebuilt from the scenarios' JSON files between its markers."""

from __future__ import annotations

import json
from pathlib import Path

from bench.reliability import END, START, regenerate

FIGURES = {
    "scenario": "kill-valkey",
    "attempts": 412,
    "errors_by_code": {"UNAVAILABLE": 82},
    "outage_s": 3.2,
    "to_not_serving_s": 0.1,
    "health_back_s": 0.05,
    "recovery_s": 0.97,
    "writes_acked": 274,
    "writes_lost": 0,
    "writes_duplicated": 0,
    "events_missing": 0,
    "events_duplicated": 0,
    "dead_lettered": 0,
    "leaked_log_lines": 0,
    "measured_at": "2026-12-02T06:14:15Z",
}


def test_the_table_between_the_markers_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    # Arrange
    results = tmp_path / "chaos"
    results.mkdir()
    (results / "kill-valkey.json").write_text(json.dumps(FIGURES), encoding="utf-8")
    document = tmp_path / "reliability.md"
    document.write_text(f"# Head\n{START}\nold table\n{END}\nTail\n", encoding="utf-8")

    # Act
    regenerate(results, document)

    # Assert
    text = document.read_text(encoding="utf-8")
    assert text.startswith("# Head\n")
    assert text.endswith(f"{END}\nTail\n")
    assert "old table" not in text
    row = "| kill-valkey | 412 | UNAVAILABLE 82 | 3.20 | 0.10 | 0.05 | 0.97 | 274 / 0 / 0 | 0 / 0 | 0 | 0 |"
    assert row in text
    assert "Measured 2026-12-02T06:14:15Z" in text
