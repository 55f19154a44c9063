"""Knowing that keys changed without reading them: the server's client-side caching support (CLIENT TRACKING).

One RESP3 connection per server asks for broadcast tracking of some key prefixes: the server then pushes an
"invalidate" message on that connection whenever a key under them changes, whoever changed it (another
replica, another fleet service, a script). A PING on the same connection is a fence: the server answers it
after every push it queued before, so once the PONG is read, every change the server made before the PING
is known. A call that sends its fence after it arrived therefore knows of every write acknowledged before
it. Valkey and FalkorDB (a graph write changes the graph's key) both support it.

Whenever the connection may have missed a push (an error, a timeout, a reconnect) the generation moves and
`caught_up` answers False until a new connection tracks again, so callers read their inputs instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from redis import exceptions as rx
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from context_service.adapters.periodic import Periodic
from context_service.application.concurrent_reads import CoalescedReads, at_once
from context_service.observability.metrics import CACHE_TRACKING

log = structlog.get_logger()

_FAILURES = (rx.RedisError, OSError, TimeoutError)
RETRY_SECONDS = 1.0  # after a lost connection, callers read their inputs for this long before a new try
# A healthy server answers a PING within a millisecond; one that does not within this is treated as lost, so
# a silent server costs a call this much before it reads its inputs (and fails on the store timeout) itself.
FENCE_SECONDS = 0.25
CLIENT_NAME = "context-service-tracking"
DRAIN_SECONDS = 1.0  # an idle tracker still reads its pushes this often, so the server never buffers many


class KeyTracking:
    """Changes to keys under `prefixes` on one server, as a generation number and a fence (`ChangeWatch`).

    Async context manager: entering starts the background drain (the first connection opens on first use).
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
        self._retry_at = 0.0
        self._refusal_logged = False
        self._generation = 0
        self._fences: CoalescedReads[None, bool] = CoalescedReads(self._fence)
        self._drain = Periodic(self._read_pushes, interval=DRAIN_SECONDS, name=f"{name}-tracking-drain")

    @property
    def generation(self) -> int:
        """Moves whenever a tracked key changed or a change may have been missed."""
        return self._generation

    async def caught_up(self) -> bool:
        """True when every change the server made before this call is counted in `generation`."""
        return await self._fences.get(None)

    async def __aenter__(self) -> KeyTracking:
        self._drain.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._drain.stop()
        self._lost()
        await self._pool.aclose()

    async def _read_pushes(self) -> None:
        await self.caught_up()

    async def _fence(self, _: None) -> bool:
        tracking = self._connection is not None
        if tracking and not self._connection.is_connected:
            # Dropped since (the library closes a connection whose read was interrupted). Sending on it would
            # reconnect silently, on a socket that tracks nothing: the only way it could, so it never does.
            self._lost()
            return False
        try:
            async with asyncio.timeout(self._timeout):
                connection = self._connection or await self._open()
                if connection is None:
                    return False
                await connection.send_command("PING")
                await connection.read_response()  # every push queued before the PONG is handled first
            return True
        except asyncio.CancelledError:
            self._lost()  # the PONG may still be on its way: the next fence must not take it for its own
            raise
        except _FAILURES as exc:
            if tracking or not self._refusal_logged:  # one line per loss, not one per retry
                log.warning("tracking_lost", server=self._name, error=f"{type(exc).__name__}: {exc}")
                self._refusal_logged = not tracking
            self._lost()
            return False

    async def _open(self) -> Any:
        """A new tracking connection, or None while the last failure is too recent to try again."""
        if time.monotonic() < self._retry_at:
            return None
        self._retry_at = time.monotonic() + RETRY_SECONDS
        connection: Any = self._pool.make_connection()  # type: ignore[no-untyped-call]  # (untyped library)
        try:
            await connection.connect()
            connection._parser.set_invalidation_push_handler(self._invalidated)
            prefixes = [part for prefix in self._prefixes for part in ("PREFIX", prefix)]
            await connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", *prefixes)
            reply = await connection.read_response()
            if reply != "OK":
                raise rx.ResponseError(f"CLIENT TRACKING answered {reply!r}")
        except BaseException:
            connection._close()
            raise
        self._connection = connection
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
        """Forget the connection; until a new one tracks, callers read."""
        self._generation += 1
        CACHE_TRACKING.labels(self._name).set(0)
        connection, self._connection = self._connection, None
        if connection is not None:
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

    async def caught_up(self) -> bool:
        """Both fences, sent at once."""
        first, second = await at_once(self._first.caught_up(), self._second.caught_up())
        return first and second
