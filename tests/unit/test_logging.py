"""Production logging: one JSON object per line on stderr, whatever values a line carries."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from context_service.observability.logging import (
    UtcTimestamps,
    bound_fields,
    configure_logging,
    merge_bound_fields,
    write_info,
)


class Stderr:
    """A text stream over bytes, as a process's stderr is."""

    def __init__(self) -> None:
        self.raw = io.BytesIO()
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8", write_through=True)

    def lines(self) -> list[dict[str, object]]:
        """The JSON objects written, one per line."""
        return [json.loads(line) for line in self.raw.getvalue().decode("utf-8").splitlines()]


@pytest.fixture
def stderr() -> Iterator[Stderr]:
    """A stream to log to; structlog's defaults restored after."""
    yield Stderr()
    structlog.reset_defaults()


def test_each_event_is_one_json_line_with_level_and_utc_timestamp(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)

    structlog.get_logger().info("rpc", method="GetContext", code="OK", duration_ms=1.25)

    [line] = stderr.lines()
    assert {k: line[k] for k in ("event", "method", "code", "duration_ms", "level")} == {
        "event": "rpc",
        "method": "GetContext",
        "code": "OK",
        "duration_ms": 1.25,
        "level": "info",
    }
    assert str(line["timestamp"]).endswith("Z")


def test_values_json_has_no_form_for_are_written_rather_than_failing_the_call(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)
    log = structlog.get_logger()

    log.info("odd", payload=b"\x00raw", counts={1: 2}, text="naïve ✓")
    log.info("huge", n=2**70)

    odd, huge = stderr.lines()
    assert (odd["payload"], odd["counts"], odd["text"]) == ("b'\\x00raw'", {"1": 2}, "naïve ✓")
    assert huge["n"] == 2**70


def test_lines_below_the_level_are_not_written(stderr: Stderr) -> None:
    configure_logging("WARNING", "json", stderr.text)

    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")

    assert [line["event"] for line in stderr.lines()] == ["loud"]


def test_a_stream_without_bytes_underneath_gets_the_same_lines() -> None:
    text = io.StringIO()
    configure_logging("INFO", "json", text)
    try:
        structlog.get_logger().info("rpc", method="Put", n=2**70)
    finally:
        structlog.reset_defaults()

    [line] = [json.loads(raw) for raw in text.getvalue().splitlines()]
    assert (line["event"], line["method"], line["n"]) == ("rpc", "Put", 2**70)


@pytest.mark.parametrize(
    "now_ns",
    [
        0,
        1_700_000_000_000_000_000,
        1_700_000_000_999_999_999,
        1_796_860_799_000_001_000,
        1_796_860_800_123_456_789,
    ],
)
def test_timestamps_are_the_utc_time_in_iso_8601_to_the_microsecond(now_ns: int) -> None:
    stamps = UtcTimestamps()
    seconds, fraction = divmod(now_ns, 1_000_000_000)
    expected = datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction // 1000)

    stamp = stamps(now_ns)

    assert stamp == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert datetime.fromisoformat(stamp) == expected


def test_a_timestamp_follows_the_clock_across_seconds() -> None:
    stamps = UtcTimestamps()

    first, second = stamps(1_700_000_000_500_000_000), stamps(1_700_000_001_000_000_000)

    assert (first, second) == ("2023-11-14T22:13:20.500000Z", "2023-11-14T22:13:21.000000Z")


def test_a_line_logged_with_an_exception_carries_its_traceback_and_warn_is_a_warning(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)
    log = structlog.get_logger()

    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    log.warn("careful")

    failed, careful = stderr.lines()
    assert (failed["level"], careful["level"]) == ("error", "warning")
    assert "ValueError: boom" in str(failed["exception"])
    assert "exc_info" not in failed


def test_a_written_info_line_is_the_line_the_logger_writes(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)
    fields = {"method": "GetContext", "story_id": "US-1", "code": "OK", "duration_ms": 0.5}

    with bound_fields(correlation_id="corr-1", trace_id="t-1"):
        structlog.get_logger().info("rpc", **fields)
        write_info("rpc", dict(fields))

    logged, written = stderr.lines()
    logged.pop("timestamp")
    assert str(written.pop("timestamp")).endswith("Z")
    assert list(written.items()) == list(logged.items())
    assert (written["correlation_id"], written["level"]) == ("corr-1", "info")


def test_a_written_line_the_fast_encoder_refuses_is_written_once_by_the_processors(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)

    with bound_fields(correlation_id="corr-2"):
        write_info("rpc", {"method": "Get", "count": 2**70})  # past 64 bits: orjson refuses it

    [line] = stderr.lines()
    assert (line["count"], line["correlation_id"], line["event"]) == (2**70, "corr-2", "rpc")
    assert str(line["timestamp"]).endswith("Z")


def test_a_capture_sees_written_lines_and_a_level_above_info_writes_none(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)
    with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries, bound_fields(code="x"):
        write_info("rpc", {"method": "Put"})
    configure_logging("WARNING", "json", stderr.text)
    write_info("rpc", {"method": "Get"})

    assert entries == [{"method": "Put", "code": "x", "event": "rpc", "log_level": "info"}]
    assert stderr.lines() == []


def test_bound_fields_nest_and_a_lines_own_value_wins() -> None:
    with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
        with bound_fields(correlation_id="outer", trace_id="t"):
            with bound_fields(correlation_id="inner"):
                structlog.get_logger().info("a")
            structlog.get_logger().info("b", trace_id="own")
        structlog.get_logger().info("c")

    assert [{k: v for k, v in e.items() if k != "log_level"} for e in entries] == [
        {"event": "a", "correlation_id": "inner", "trace_id": "t"},
        {"event": "b", "correlation_id": "outer", "trace_id": "own"},
        {"event": "c"},
    ]


def test_a_logger_factory_configured_later_gets_the_written_line(stderr: Stderr) -> None:
    configure_logging("INFO", "json", stderr.text)
    later = io.BytesIO()
    structlog.configure(logger_factory=structlog.BytesLoggerFactory(later))

    write_info("rpc", {"method": "Get"})

    assert stderr.lines() == []
    assert json.loads(later.getvalue())["method"] == "Get"
