"""structlog configured once: JSON lines in production, console on a terminal.

JSON lines are encoded by orjson and written as bytes, and everything after the bound fields is one
processor (`JsonLine`: level, timestamp, exception, encoding): the canonical line of every call was the
largest part of a cheap call's own Python time with structlog's processor chain and the standard library's
encoder.

The fields every line of one call or message carries (its correlation id, its trace id) are bound with
`bind_fields` (or `bound_fields`) in one context variable, merged by `merge_bound_fields`: structlog's own
contextvars copy the whole context on every line and bind one variable per field. A gRPC call binds itself
(`bind_call`) and makes its fields only when a line asks for them. `write_info` writes a line without a
bound logger per call: in JSON, straight to the stream (`JsonLines`). `write_info_later` takes the line every
call ends with and makes and writes it a few milliseconds later, with the others of that moment: made one
after another, lines cost a fraction of what each costs made between two calls, and the stream gets one write.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, BinaryIO, Protocol, TextIO

import orjson
import structlog

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_BOUND_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar("log_bound_fields", default=_NO_FIELDS)
LATER_SECONDS = 0.01  # how long a line given to `write_info_later` may wait for the others of its moment
LATER_LINES = 256  # so many waiting lines are written at once


class CallFields(Protocol):
    """The call being served, whose fields (correlation id, trace id) every line written during it carries;
    made when the first line asks for them."""

    def log_fields(self) -> Mapping[str, Any]:
        """The call's fields."""


class LaterLine(Protocol):
    """A line whose own fields are made when it is written (after the call that logged it ended)."""

    def line_fields(self) -> dict[str, Any]:
        """The line's own fields, in a new dict."""


_CALL_FIELDS: ContextVar[CallFields | None] = ContextVar("log_call_fields", default=None)


def bind_fields(fields: Mapping[str, Any]) -> Token[Mapping[str, Any]]:
    """Add `fields` (kept, not copied) to every line written in the current context, over what is bound
    already, until `reset_fields` with the token returned."""
    outer = _BOUND_FIELDS.get()
    return _BOUND_FIELDS.set({**outer, **fields} if outer else fields)


def reset_fields(token: Token[Mapping[str, Any]]) -> None:
    """Undo the `bind_fields` that returned `token`."""
    _BOUND_FIELDS.reset(token)


@contextmanager
def bound_fields(**fields: Any) -> Iterator[None]:
    """`fields` on every line written inside the block."""
    token = bind_fields(fields)
    try:
        yield
    finally:
        reset_fields(token)


def bind_call(call: CallFields) -> Token[CallFields | None]:
    """Give every line written in the current context the fields of `call` (over the bound ones), until
    `reset_call` with the token returned."""
    return _CALL_FIELDS.set(call)


def reset_call(token: Token[CallFields | None]) -> None:
    """Undo the `bind_call` that returned `token`."""
    _CALL_FIELDS.reset(token)


def merge_bound_fields(
    logger: Any, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The processor adding the call's and the bound fields to a line (a line's own values win)."""
    return _merged(event, _CALL_FIELDS.get(), _BOUND_FIELDS.get())


def _merged(
    fields: MutableMapping[str, Any], call: CallFields | None, bound: Mapping[str, Any]
) -> MutableMapping[str, Any]:
    if call is not None:
        for key, value in call.log_fields().items():
            fields.setdefault(key, value)
    for key, value in bound.items():
        fields.setdefault(key, value)
    return fields


class _Sink:
    """The processors and the logger factory `configure_logging` set up, and one logger of it, for
    `write_info`; `direct`: the JSON lines writer that does what those processors do, when they are JSON
    lines to a binary stream."""

    __slots__ = ("configured", "direct", "factory", "logger", "processors")

    def __init__(
        self, processors: list[structlog.typing.Processor], factory: Any, direct: JsonLines | None = None
    ) -> None:
        self.processors = processors
        self.configured = list(processors)  # a capture changes `processors` in place
        self.factory = factory
        self.logger = factory()
        self.direct = direct

    def in_force(self) -> bool:
        """Whether structlog still writes through these processors to this factory's loggers."""
        config = structlog.get_config()
        return config["processors"] is self.processors and config["logger_factory"] is self.factory

    def as_configured(self) -> bool:
        """Whether the processors are still the ones configured (a capture replaces them in place)."""
        return self.processors == self.configured


class JsonLines:
    """One info line written straight to a binary stream: the same line as the JSON processors make
    (`merge_bound_fields` then `JsonLine`), without their calls; what orjson cannot encode goes to them."""

    __slots__ = ("_flush", "_write")

    def __init__(self, stream: BinaryIO) -> None:
        self._write = stream.write
        self._flush = stream.flush

    def info(self, event: str, fields: dict[str, Any]) -> bool:
        """Write the line (`fields` taken over); False, having written nothing, when orjson refuses it."""
        line = self.encode(event, fields, _CALL_FIELDS.get(), _BOUND_FIELDS.get(), time.time_ns())
        if line is None:
            return False
        self.write(line)
        return True

    @staticmethod
    def encode(
        event: str, fields: dict[str, Any], call: CallFields | None, bound: Mapping[str, Any], now_ns: int
    ) -> bytes | None:
        """The line's bytes (`fields` taken over, the call's and the bound fields merged, written at
        `now_ns`); None when orjson refuses it."""
        fields["event"] = event
        _merged(fields, call, bound)
        fields["level"] = "info"
        fields["timestamp"] = utc_timestamp(now_ns)
        try:
            return orjson.dumps(fields, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return None

    def write(self, data: bytes) -> None:
        """Write encoded lines and flush them."""
        self._write(data)
        self._flush()


class _Configured:
    """What the last `configure_logging` set up for `write_info` (None: it writes at a level above INFO)."""

    sink: _Sink | None = None


def write_info(event: str, fields: dict[str, Any]) -> None:
    """Write what `structlog.get_logger().info(event, **fields)` writes (`fields` is taken over).

    While the configuration `configure_logging` made is in force (at INFO or below), the line goes straight to
    its stream (JSON lines, `JsonLines`) or through its processors to its logger, skipping the lazy proxy,
    the bound logger and its context copy; a capture (`structlog.testing.capture_logs`) changes that list in
    place and still sees the line; any other configuration gets the plain call.
    """
    sink = _Configured.sink
    if sink is None or not sink.in_force():
        structlog.get_logger().info(event, **fields)  # a new proxy: one kept may hold an old configuration
        return
    if sink.direct is not None and sink.as_configured() and sink.direct.info(event, fields):
        return
    _processed(sink, event, fields)


def _processed(sink: _Sink, event: str, fields: dict[str, Any]) -> None:
    """Write a line through the configured processors."""
    fields["event"] = event
    line: Any = fields
    try:
        for processor in sink.processors:
            line = processor(sink.logger, "info", line)
    except structlog.DropEvent:
        return
    sink.logger.msg(line)


def write_info_later(event: str, line: LaterLine) -> None:
    """Write what `write_info(event, line.line_fields())` writes now, within `LATER_SECONDS`.

    The line keeps the time of this call and the fields bound now; it is made and written together with the
    others waiting (`flush_later_lines` writes them at once). Only JSON lines to a binary stream wait, in an
    event loop: a capture, the console format or a caller outside a loop get the line now.
    """
    sink = _Configured.sink
    if sink is None or sink.direct is None or not sink.in_force() or not sink.as_configured():
        write_info(event, line.line_fields())
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        write_info(event, line.line_fields())
        return
    _LATER.add(sink, (event, line, _CALL_FIELDS.get(), _BOUND_FIELDS.get(), time.time_ns()), loop)


def flush_later_lines() -> None:
    """Write every line `write_info_later` holds, now (at shutdown, before the configuration changes)."""
    _LATER.flush()


_Later = tuple[str, LaterLine, CallFields | None, Mapping[str, Any], int]


class _LaterLines:
    """The lines waiting to be written, all for one configuration's stream: written when `LATER_SECONDS`
    have passed since the first of them, when `LATER_LINES` wait, or when flushed."""

    __slots__ = ("_loop", "_pending", "_sink", "_timer")

    def __init__(self) -> None:
        self._pending: list[_Later] = []
        self._sink: _Sink | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, sink: _Sink, later: _Later, loop: asyncio.AbstractEventLoop) -> None:
        if self._pending and (sink is not self._sink or self._loop is not loop):  # another stream, or a
            self.flush()  # loop that is gone: what waits goes out first
        self._sink = sink
        pending = self._pending
        pending.append(later)
        if len(pending) >= LATER_LINES:
            self.flush()
        elif self._timer is None:
            # An empty context: the lines carry what was bound when they were logged, the timer nothing.
            self._timer = loop.call_later(LATER_SECONDS, self.flush, context=contextvars.Context())
            self._loop = loop

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        sink = self._sink
        if not pending or sink is None or sink.direct is None:  # only lines for the JSON writer wait
            return
        encoded: list[bytes] = []
        for event, line, call, bound, now_ns in pending:
            fields = line.line_fields()
            data = sink.direct.encode(event, fields, call, bound, now_ns)
            if data is not None:
                encoded.append(data)
            else:  # what orjson refuses goes through the processors, as `write_info` does (own fields merged)
                contextvars.Context().run(_processed, sink, event, fields)
        if encoded:
            with contextlib.suppress(OSError, ValueError):  # a stream closed or broken: nobody to tell
                sink.direct.write(b"".join(encoded))


_LATER = _LaterLines()
atexit.register(flush_later_lines)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route structlog (and stdlib logging) to `stream` (default stderr) in the chosen format."""
    flush_later_lines()  # lines logged under the configuration in force go to its stream
    stream = sys.stderr if stream is None else stream
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    buffer = getattr(stream, "buffer", None)
    processors: list[structlog.typing.Processor] = [merge_bound_fields]
    factory: Any
    direct = None
    if use_console:
        processors += [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(),
        ]
        factory = structlog.PrintLoggerFactory(file=stream)
    elif buffer is not None:
        processors.append(JsonLine(_json))
        factory = structlog.BytesLoggerFactory(buffer)
        direct = JsonLines(buffer)
    else:  # a stream without bytes underneath (some test captures): the same lines, as text
        processors.append(JsonLine(_json_text))
        factory = structlog.PrintLoggerFactory(file=stream)
    number = logging.getLevelNamesMapping()[level]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    _Configured.sink = _Sink(processors, factory, direct) if number <= logging.INFO else None
    logging.basicConfig(level=level, stream=stream, format="%(levelname)s %(name)s %(message)s")


class JsonLine:
    """structlog's add_log_level, TimeStamper(fmt="iso", utc=True), format_exc_info and JSONRenderer as one
    processor: the level, the UTC time as ISO 8601 with microseconds, a traceback only when the line has one,
    and the JSON encoding (`dumps`)."""

    def __init__(self, dumps: Callable[..., str | bytes]) -> None:
        self._render = structlog.processors.JSONRenderer(dumps)

    def __call__(self, logger: Any, method: str, event: structlog.typing.EventDict) -> str | bytes:
        event = structlog.processors.add_log_level(logger, method, event)
        event["timestamp"] = utc_timestamp()
        if "exc_info" in event:
            event = structlog.processors.format_exc_info(logger, method, event)
        return self._render(logger, method, event)


class _Second:
    """The text of one UTC second (formatting a datetime costs more than a log line's encoding)."""

    __slots__ = ("number", "text")

    def __init__(self, number: int) -> None:
        self.number = number
        self.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(number))


class UtcTimestamps:
    """Times as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the text of the current second kept while it lasts."""

    __slots__ = ("_second",)

    def __init__(self) -> None:
        self._second = _Second(0)

    def __call__(self, now_ns: int | None = None) -> str:
        """`now_ns` (nanoseconds since the epoch; default: now) as text."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        number, fraction = divmod(now_ns, 1_000_000_000)
        second = self._second
        if second.number != number:
            second = self._second = _Second(number)  # one assignment: a thread sees the old or the new
        return f"{second.text}.{fraction // 1000:06d}Z"


utc_timestamp = UtcTimestamps()


def _json(event: Any, **kw: Any) -> bytes:
    """One event as a JSON line's bytes (keys need not be strings; what orjson cannot encode goes through
    structlog's fallback, `repr`; what it refuses outright, such as an integer past 64 bits, goes through the
    standard encoder: a log line never fails its call)."""
    default = kw.get("default")
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(event, default=default).encode("utf-8")


def _json_text(event: Any, **kw: Any) -> str:
    return _json(event, **kw).decode("utf-8")
