"""The figures the benchmark reports are computed as they say: medians over rounds, ratios within a round."""

from __future__ import annotations

from bench.stats import median_of, ratio_of_rounds


def _round(service_rps: float, echo_rps: float) -> dict[str, dict[str, float]]:
    return {"service": {"rps": service_rps}, "echo": {"rps": echo_rps}}


def test_the_ratio_of_two_rounds_is_their_mean_not_the_better_one() -> None:
    rounds = [_round(450, 1000), _round(500, 1000)]

    assert ratio_of_rounds(rounds, "service", "echo") == 0.475


def test_each_round_is_divided_by_its_own_echo() -> None:
    rounds = [_round(400, 800), _round(600, 1000), _round(300, 1000)]

    assert ratio_of_rounds(rounds, "service", "echo") == 0.5


def test_the_median_of_figures_over_two_runs_is_their_mean() -> None:
    merged = median_of([{"rps": 100.0, "name": "a"}, {"rps": 200.0, "name": "b"}])

    assert merged == {"rps": 150.0, "name": "a"}
