"""Knowing that keys changed without reading them: the server's client-side caching support (CLIENT TRACKING).

One RESP3 connection per server asks for broadcast tracking of some key prefixes: the server then pushes an
"invalidate" message on that connection whenever a key under them changes, whoever changed it (another
replica, another fleet service, a script). A PING on the same connection is a fence: the server answers it
after every push it queued before, so once the PONG is read, every change the server made before the PING
is known. A call that waits for a PING written after it arrived therefore knows of every write acknowledged
before it.

The connection is read by one task of its own, which hands each push to the generation and each PONG to the
fence waiting for it; a fence is a write of PING and a future (no command round trip through the client
library, no task or timer per call). One PING is out at a time: calls arriving meanwhile share the next one,
held after the first is answered while the event loop has other work (`Fences`). Valkey and FalkorDB (a
graph write changes the graph's key) both support it.

Whenever the connection may have missed a push (an error, a PING unanswered within `FENCE_SECONDS`, a
reconnect) the generation moves and `caught_up` answers False until a new connection tracks again, so callers
read their inputs instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from redis import exceptions as rx
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from context_service.adapters.periodic import Periodic
from context_service.adapters.valkey.opening import SharedOpening
from context_service.observability.metrics import CACHE_TRACKING

log = structlog.get_logger()

_FAILURES = (rx.RedisError, OSError, TimeoutError)
RETRY_SECONDS = 1.0  # after a lost connection, callers read their inputs for this long before a new try
# A healthy server answers a PING within a millisecond; one that does not within this is treated as lost, so
# a silent server costs a call this much before it reads its inputs (and fails on the store timeout) itself.
FENCE_SECONDS = 0.25
CLIENT_NAME = "context-service-tracking"
DRAIN_SECONDS = 1.0  # an idle tracker still fences this often: a lost connection is found and replaced
PING = b"*1\r\n$4\r\nPING\r\n"
# The next PING is held at most this long after the last answer (see `Fences`).
HOLD_SECONDS = 0.002
# A turn of the event loop shorter than this ran little besides the fences' own check: nothing else to do
# (a turn with nothing in it takes 1-2 µs; one that runs a call's step or grpc's work, tens to hundreds).
QUIET_SECONDS = 0.000015


class Fences:
    """PINGs and the calls waiting for their answers: one PING out at a time; calls arriving while it is out
    share the next one. A call is only ever answered by a PING written after it arrived.

    A PING costs the process a socket write and a read, many times what sharing it costs a call, so the next
    PING (`send`) is held while the event loop has other work: readers answered by the last one (between
    `begin` and `end`) still at work, or turns of the loop taken by other calls, whose reads join it. It is
    written in the first turn that took less than `quiet_seconds` with every reader waiting for it, and
    `hold_seconds` after the last answer at the latest. A call alone never waits for it; calls on a loop with
    nothing else to do wait one turn.
    """

    def __init__(
        self,
        send: Callable[[], None],
        hold_seconds: float = HOLD_SECONDS,
        quiet_seconds: float = QUIET_SECONDS,
    ) -> None:
        self._send = send
        self._hold_seconds = hold_seconds
        self._quiet_seconds = quiet_seconds
        self._sent: asyncio.Future[bool] | None = None  # answered by the PING that is out
        self._next: asyncio.Future[bool] | None = None  # answered by the PING after it (not written yet)
        self._waiting = 0  # calls waiting for the next PING
        self._readers = 0
        self._held: asyncio.Handle | None = None  # the next PING is held: its check in the next turn
        self._turn_began = 0.0
        self._hold_until = 0.0

    def begin(self) -> None:
        """A reader starts (it will ask for a fence, then work on what it read)."""
        self._readers += 1

    def end(self) -> None:
        """A reader is done."""
        self._readers -= 1

    def fence(self) -> asyncio.Future[bool]:
        """The answer (True) of a PING written now, or of the next one when one is out or held."""
        if self._sent is None and self._held is None:
            self._send()
            self._sent = asyncio.get_running_loop().create_future()
            return self._sent
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
        self._waiting += 1
        return waiting

    def answered(self) -> None:
        """The PING that was out is answered: its callers are caught up; the next one is held."""
        answered, self._sent = self._sent, None
        if answered is not None and not answered.done():
            answered.set_result(True)
        if self._next is None or self._held is not None:  # nobody waits, or the next one is held already
            return
        now = time.perf_counter()
        self._hold_until = now + self._hold_seconds
        self._check_next_turn(now)

    def _check_next_turn(self, now: float) -> None:
        self._turn_began = now
        self._held = asyncio.get_running_loop().call_soon(self._settle)

    def _settle(self) -> None:
        """Write the held PING if the turn ending here was quiet and every reader waits, or the hold is up."""
        now = time.perf_counter()
        quiet = now - self._turn_began < self._quiet_seconds and self._waiting >= self._readers
        if quiet or now >= self._hold_until:
            self._write_next()
        else:
            self._check_next_turn(now)

    def _write_next(self) -> None:
        self._held = None
        self._sent, self._next, self._waiting = self._next, None, 0
        if self._sent is not None:
            self._send()

    def fail(self) -> None:
        """No answer will come (the connection is gone): every waiting call answers False."""
        if self._held is not None:
            self._held.cancel()
            self._held = None
        for waiting in (self._sent, self._next):
            if waiting is not None and not waiting.done():
                waiting.set_result(False)
        self._sent = self._next = None
        self._waiting = 0


class KeyTracking:
    """Changes to keys under `prefixes` on one server, as a generation number and a fence (`ChangeWatch`).

    Async context manager: entering starts the background fence (the first connection opens on first use).
    """

    def __init__(
        self,
        *,
        name: str,
        url: str,
        prefixes: Sequence[str],
        timeout_seconds: float,
        ignore: Callable[[str], bool] = lambda key: False,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._pool = ConnectionPool.from_url(
            url,
            protocol=3,
            max_connections=1,
            socket_timeout=None,  # the reader waits for pushes as long as the connection lives
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), retries=0),
            decode_responses=True,
            client_name=f"{CLIENT_NAME}-{name}",  # what an operator sees in CLIENT LIST
            **(options or {}),
        )
        self._prefixes = tuple(prefixes)
        self._timeout = min(timeout_seconds, FENCE_SECONDS)
        self._ignore = ignore
        self._connection: Any = None  # the library's connection class is untyped
        self._reader: asyncio.Task[None] | None = None
        self._opening = SharedOpening(self._open)  # `_open` logs its failures; its callers read their inputs
        self._fences = Fences(self._ping)
        self._expiry: asyncio.TimerHandle | None = None
        self._retry_at = 0.0
        self._refusal_logged = False
        self._generation = 0
        self._drain = Periodic(self._keep_tracking, interval=DRAIN_SECONDS, name=f"{name}-tracking-fence")

    @property
    def generation(self) -> int:
        """Moves whenever a tracked key changed or a change may have been missed."""
        return self._generation

    async def caught_up(self) -> bool:
        """True when every change the server made before this call is counted in `generation`."""
        return await self.wait(self.fence())

    def begin_read(self) -> None:
        """A reader of the watched keys starts (see `Fences`)."""
        self._fences.begin()

    def end_read(self) -> None:
        """A reader of the watched keys is done."""
        self._fences.end()

    def fence(self) -> asyncio.Future[bool] | None:
        """A PING's answer, for a PING written now or later (None: no connection tracks yet, see `wait`)."""
        # A connection is closed only by `_lost`, which forgets it; one the server closes, its reader loses.
        return None if self._connection is None else self._fences.fence()

    def wait(self, fence: asyncio.Future[bool] | None) -> Awaitable[bool]:
        """The answer of `fence`, to await; without one, a new connection is opened (unless the last try is
        too recent) and fenced. A caller giving up leaves the answer to the others. With a fence (the common
        case) no coroutine is made: the fence is awaited through its shield alone."""
        return self._fence_anew() if fence is None else asyncio.shield(fence)

    async def _fence_anew(self) -> bool:
        if await self._connect() is None:
            return False
        fence = self.fence()
        return False if fence is None else await asyncio.shield(fence)

    async def __aenter__(self) -> KeyTracking:
        self._drain.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._drain.stop()
        reader = self._reader
        self._lost()
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)
        await self._pool.aclose()

    async def _keep_tracking(self) -> None:
        await self.caught_up()

    def _ping(self) -> None:
        """Write a PING on the connection; without its answer within the fence time, lose the connection."""
        self._connection._writer.write(PING)
        self._expiry = asyncio.get_running_loop().call_later(self._timeout, self._unanswered)

    def _answered(self) -> None:
        self._stop_expiry()
        self._fences.answered()

    def _stop_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _unanswered(self) -> None:
        self._give_up(f"no PONG within {self._timeout}s")

    async def _read(self, connection: Any) -> None:
        """Read the connection until it fails (`_lost` cancels this task when it forgets the connection):
        pushes move the generation, each reply answers the PING that is out."""
        parser = connection._parser
        try:
            while True:
                await parser.read_response()  # pushes are handed to `_invalidated` while reading
                self._answered()
        except _FAILURES as exc:
            self._give_up(f"{type(exc).__name__}: {exc}")

    def _give_up(self, error: str) -> None:
        log.warning("tracking_lost", server=self._name, error=error)
        self._lost()

    async def _connect(self) -> Any:
        """The tracking connection, opened once however many callers ask (None: not tracking now)."""
        if self._connection is not None:
            return self._connection
        return await self._opening()

    async def _open(self) -> Any:
        """A new tracking connection, or None while the last failure is too recent to try again."""
        if time.monotonic() < self._retry_at:
            return None
        self._retry_at = time.monotonic() + RETRY_SECONDS
        connection: Any = self._pool.make_connection()  # type: ignore[no-untyped-call]  # (untyped library)
        try:
            async with asyncio.timeout(self._timeout):
                await connection.connect()
                connection._parser.set_invalidation_push_handler(self._invalidated)
                prefixes = [part for prefix in self._prefixes for part in ("PREFIX", prefix)]
                await connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", *prefixes)
                reply = await connection.read_response()
            if reply != "OK":
                raise rx.ResponseError(f"CLIENT TRACKING answered {reply!r}")
        except _FAILURES as exc:
            connection._close()
            if not self._refusal_logged:  # one line per loss, not one per retry
                log.warning("tracking_lost", server=self._name, error=f"{type(exc).__name__}: {exc}")
                self._refusal_logged = True
            return None
        except BaseException:
            connection._close()
            raise
        self._connection = connection
        self._reader = asyncio.create_task(self._read(connection), name=f"{self._name}-tracking-read")
        self._generation += 1  # whatever changed while nothing tracked
        self._refusal_logged = False
        CACHE_TRACKING.labels(self._name).set(1)
        log.info("tracking_started", server=self._name, prefixes=list(self._prefixes))
        return connection

    async def _invalidated(self, message: list[Any]) -> None:
        keys = message[1] if len(message) > 1 else None
        if keys is None or not all(self._ignore(str(key)) for key in keys):  # None: the server flushed
            self._generation += 1

    def _lost(self) -> None:
        """Forget the connection (its reader stops, its waiting callers answer False); until a new one
        tracks, callers read."""
        self._generation += 1
        CACHE_TRACKING.labels(self._name).set(0)
        self._stop_expiry()
        self._fences.fail()
        connection, self._connection = self._connection, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if connection is not None:
            with contextlib.suppress(*_FAILURES):
                connection._close()


class BothCaught:
    """Two trackers as one: caught up when both are; its generation moves when either one's does."""

    def __init__(self, first: KeyTracking, second: KeyTracking) -> None:
        self._first = first
        self._second = second

    @property
    def generation(self) -> int:
        """The sum of the trackers' generations (each only grows)."""
        return self._first.generation + self._second.generation

    def begin_read(self) -> None:
        """A reader starts, for both."""
        self._first.begin_read()
        self._second.begin_read()

    def end_read(self) -> None:
        """A reader is done, for both."""
        self._first.end_read()
        self._second.end_read()

    async def caught_up(self) -> bool:
        """Both fences, their PINGs written at once."""
        first, second = self._first.fence(), self._second.fence()
        caught = await self._first.wait(first)
        return await self._second.wait(second) and caught
