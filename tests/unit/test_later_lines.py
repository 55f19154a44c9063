"""Lines written after their call (`write_info_later`): the same line `write_info` writes, with the time and
the fields of the moment it was logged, written within `LATER_SECONDS` with the others of that moment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from context_service.observability.logging import (
    LATER_LINES,
    LATER_SECONDS,
    bind_call,
    bound_fields,
    configure_logging,
    flush_later_lines,
    merge_bound_fields,
    reset_call,
    write_info,
    write_info_later,
)
from tests.unit.test_logging import Stderr


class Line:
    """A canonical line's own fields, made when it is written; counts how often they were made."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        self.made = 0

    def line_fields(self) -> dict[str, Any]:
        self.made += 1
        return dict(self.fields)


class Call:
    """A call's fields, as a served call gives them."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id

    def log_fields(self) -> Mapping[str, Any]:
        return {"correlation_id": self.correlation_id}


@pytest.fixture
def stderr() -> Iterator[Stderr]:
    """A stream the JSON configuration writes to; nothing left waiting and structlog's defaults after."""
    stream = Stderr()
    configure_logging("INFO", "json", stream.text)
    yield stream
    flush_later_lines()
    structlog.reset_defaults()


def seconds_of(line: Mapping[str, object]) -> float:
    return datetime.strptime(str(line["timestamp"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


async def test_a_later_line_is_written_within_its_delay_as_write_info_writes_it(stderr: Stderr) -> None:
    fields = {"method": "GetContext", "story_id": "US-1", "code": "OK", "duration_ms": 0.5}
    token = bind_call(Call("corr-1"))
    try:
        logged_at = time.time()
        write_info_later("rpc", Line(**fields))
        write_info("rpc", dict(fields))
    finally:
        reset_call(token)
    [now] = stderr.lines()  # the later line waits

    await asyncio.sleep(LATER_SECONDS * 5)

    now_line, later = stderr.lines()
    assert now_line == now
    assert abs(seconds_of(later) - logged_at) < LATER_SECONDS  # the time it was logged, not written
    later.pop("timestamp"), now.pop("timestamp")
    assert list(later.items()) == list(now.items())
    assert later["correlation_id"] == "corr-1"


async def test_a_later_line_carries_the_fields_bound_when_logged_not_when_written(stderr: Stderr) -> None:
    with bound_fields(worker=1):
        first = bind_call(Call("corr-first"))
        write_info_later("rpc", Line(method="Get"))
        reset_call(first)
    second = bind_call(Call("corr-second"))
    try:
        write_info_later("rpc", Line(method="Put"))
        flush_later_lines()
    finally:
        reset_call(second)

    one, two = stderr.lines()
    assert (one["method"], one["correlation_id"], one["worker"]) == ("Get", "corr-first", 1)
    assert (two["method"], two["correlation_id"], "worker" in two) == ("Put", "corr-second", False)


async def test_lines_are_made_only_when_written_and_keep_their_order(stderr: Stderr) -> None:
    lines = [Line(method="Get", n=n) for n in range(5)]
    for line in lines:
        write_info_later("rpc", line)

    assert [line.made for line in lines] == [0] * 5
    flush_later_lines()
    assert [line.made for line in lines] == [1] * 5
    assert [line["n"] for line in stderr.lines()] == [0, 1, 2, 3, 4]


async def test_so_many_waiting_lines_are_written_at_once(stderr: Stderr) -> None:
    for n in range(LATER_LINES - 1):
        write_info_later("rpc", Line(n=n))
    assert stderr.lines() == []

    write_info_later("rpc", Line(n=LATER_LINES - 1))

    assert [line["n"] for line in stderr.lines()] == list(range(LATER_LINES))


async def test_a_new_configuration_first_writes_the_lines_waiting_for_the_old_one(stderr: Stderr) -> None:
    write_info_later("rpc", Line(method="Get"))
    other = Stderr()

    configure_logging("INFO", "json", other.text)
    write_info_later("rpc", Line(method="Put"))
    flush_later_lines()

    assert [line["method"] for line in stderr.lines()] == ["Get"]
    assert [line["method"] for line in other.lines()] == ["Put"]


async def test_a_line_the_fast_encoder_refuses_goes_through_the_processors_with_its_own_fields(
    stderr: Stderr,
) -> None:
    token = bind_call(Call("corr-own"))
    write_info_later("rpc", Line(method="Get", count=2**70))  # past 64 bits: orjson refuses it
    reset_call(token)
    other = bind_call(Call("corr-other"))
    try:
        flush_later_lines()  # written from within another call
    finally:
        reset_call(other)

    [line] = stderr.lines()
    assert (line["count"], line["correlation_id"], line["event"]) == (2**70, "corr-own", "rpc")


def test_outside_an_event_loop_a_later_line_is_written_at_once(stderr: Stderr) -> None:
    write_info_later("rpc", Line(method="Get"))

    assert [line["method"] for line in stderr.lines()] == ["Get"]


async def test_a_capture_sees_a_later_line_at_once(stderr: Stderr) -> None:
    token = bind_call(Call("corr-3"))
    try:
        with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
            write_info_later("rpc", Line(method="Put"))
    finally:
        reset_call(token)

    assert entries == [{"method": "Put", "correlation_id": "corr-3", "event": "rpc", "log_level": "info"}]
    flush_later_lines()
    assert stderr.lines() == []


async def test_a_stream_that_cannot_be_written_loses_its_lines_without_failing_anyone(stderr: Stderr) -> None:
    write_info_later("rpc", Line(method="Get"))
    stderr.raw.close()
    flush_later_lines()  # nothing raised
    other = Stderr()
    configure_logging("INFO", "json", other.text)

    write_info_later("rpc", Line(method="Put"))
    flush_later_lines()

    assert [line["method"] for line in other.lines()] == ["Put"]
