"""One pooled Valkey client per process (single node or Valkey Cluster), and the one place Valkey errors
become port errors.

Adapters run single-key commands inside `call(operation)` and batches through `batch`/`read`, which group
keys by hash slot so the same code serves a single node (one round trip) and a cluster (one round trip
per node, sent concurrently).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import structlog
from redis import exceptions as rx
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.typing import EncodableT

from context_service.adapters.valkey.connect import cluster_client, connection_options, single_client
from context_service.adapters.valkey.opening import SharedOpening
from context_service.adapters.valkey.tracking import KeyTracking
from context_service.config import ValkeySettings
from context_service.observability.metrics import store_call
from context_service.ports.errors import PortError, StoreTimeout, StoreUnavailable

BACKEND = "valkey"
log = structlog.get_logger()

# Replies and client states that mean "this server cannot serve right now" rather than "this command is
# wrong". During a cluster failover the client sees refused connections, CLUSTERDOWN / MASTERDOWN / TRYAGAIN
# replies, slots no known node covers, or a topology it cannot load: all of them pass once a replica is
# promoted.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # refused, reset, auth, LOADING (BusyLoadingError), pool exhausted
    rx.ReadOnlyError,
    rx.OutOfMemoryError,
    rx.TryAgainError,
    rx.ClusterError,  # ClusterDownError, MasterDownError, "TTL exhausted" redirect loops
    rx.RedisClusterException,  # no reachable startup node, slot not covered
    OSError,
)

Client = Redis | RedisCluster


_DRIVER_DIR = str(Path(redis.__file__).parent)


# Entered by every call on a single node, where no turn is taken (a generator-based one costs a call 2 us).
_NO_TURN: AbstractAsyncContextManager[None] = nullcontext()


def raised_by_driver(exc: BaseException) -> bool:
    """True when the innermost frame of the exception's traceback is redis-py's own code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_DRIVER_DIR)


def translate(exc: BaseException, operation: str) -> PortError:
    """The port error for a driver exception (timeouts first: the builtin TimeoutError is an OSError)."""
    message = f"valkey {operation}: {exc}"
    if isinstance(exc, rx.TimeoutError | TimeoutError):
        return StoreTimeout(message, backend=BACKEND, operation=operation)
    if isinstance(exc, _UNAVAILABLE) or str(exc).startswith(("BUSY", "CLUSTERDOWN", "MASTERDOWN")):
        return StoreUnavailable(message, backend=BACKEND, operation=operation)
    return PortError(message, backend=BACKEND, operation=operation)


_DRIVER_ERRORS = (rx.RedisError, rx.RedisClusterException, OSError)


@dataclass(frozen=True)
class Command:
    """One command of a batch: `key` routes it; `fallback` replaces it when the server lacks a script."""

    key: str
    args: tuple[EncodableT, ...]
    fallback: tuple[EncodableT, ...] | None = None


async def _sent(send: Callable[..., Awaitable[Any]], command: Command) -> Any:
    """The command's reply through `send`; its fallback when the server lacks the script."""
    try:
        return await send(*command.args)
    except rx.NoScriptError:  # the server (e.g. a freshly promoted replica) has not cached the script
        return await send(*(command.fallback or command.args))


class PipelinedCommands:
    """Single commands to a single node, any number in flight on one connection kept aside from the pool.

    Valkey answers a connection's commands in the order it received them, so a command is its bytes added
    to the connection's output (written once per event-loop pass for every command of that pass) and a
    future that the connection's one reader answers with the next reply. Against a pooled connection per
    command this saves, per command, the pool's locks and checks, a socket write and a socket read of its
    own, and a timer: the connection keeps the deadline. When its oldest unanswered command has waited
    `timeout_seconds`, the server is taken as not answering and every command waiting fails with
    TimeoutError; when the connection fails or closes they fail with ConnectionError. A command is sent
    once more, on a new connection, only when the connection was lost before its bytes were written
    (`NotSent`): one already written may have been applied, and sending it again could apply a write twice.
    A command whose caller gave up (a cancelled call) keeps its place: its reply is read and dropped, so
    every later command still gets its own.
    """

    def __init__(self, redis: Redis, *, timeout_seconds: float) -> None:
        self._redis: Any = redis  # its pool, connection and parser classes are untyped
        self._timeout = timeout_seconds
        self._link: _Link | None = None
        self._opening = SharedOpening(self._connect)
        self._closed = False

    async def send(self, *args: EncodableT) -> Any:
        """The command's reply, parsed as `Redis.execute_command` would."""
        try:
            reply = await self._exchange(args)
        except NotSent:  # lost before the command went out (e.g. the server closed it): safe to send again
            if self._closed:
                raise
            reply = await self._exchange(args)
        callback = self._redis.response_callbacks.get(args[0])
        return reply if callback is None else callback(reply)

    async def _exchange(self, args: tuple[EncodableT, ...]) -> Any:
        link = self._link
        if link is None or link.failed:
            link = await self._open()
        return await link.send(link.connection.pack_command(*args))

    async def _open(self) -> _Link:
        """The connection, opened once however many commands ask at the same time."""
        if self._closed:
            raise rx.ConnectionError("the client is closed")
        return await self._opening()

    async def _connect(self) -> _Link:
        connection = self._redis.connection_pool.make_connection()
        try:
            async with asyncio.timeout(self._timeout):  # the hand-shake's replies are read without one
                await connection.connect()
        except BaseException as exc:
            connection._close()
            if isinstance(exc, TimeoutError):
                raise rx.TimeoutError(f"no connection within {self._timeout}s") from exc
            raise
        link = _Link(connection, self._timeout)
        if self._closed:
            link.fail(rx.ConnectionError("the client is closed"))
            raise rx.ConnectionError("the client is closed")
        self._link = link
        return link

    async def aclose(self) -> None:
        """Close the connection; commands still waiting on it fail with ConnectionError."""
        self._closed = True
        link, self._link = self._link, None
        if link is not None:
            link.fail(rx.ConnectionError("the client is closed"))
            await link.closed()


class NotSent(rx.ConnectionError):
    """The connection was lost before the command's bytes were written: it cannot have been applied."""


class _Link:
    """One connection's commands in flight: written in order, answered in order by one reader task."""

    def __init__(self, connection: Any, timeout_seconds: float) -> None:
        self.connection = connection
        self.failed = False
        self._timeout = timeout_seconds
        self._deadline: asyncio.TimerHandle | None = None
        self._writer: asyncio.StreamWriter = connection._writer
        self._stream: asyncio.StreamReader = connection._reader
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._unwritten = 0  # the last commands waiting, whose bytes are still in `_out`
        self._loop = asyncio.get_running_loop()
        self._reader = asyncio.create_task(self._read(), name="valkey-pipelined-read")

    def send(self, packed: list[bytes]) -> asyncio.Future[Any]:
        """Queue the packed command; the future of its reply. NotSent when the connection failed or the
        server closed it (seen here before the reader has noticed: the command is not written to it)."""
        if self.failed:
            raise NotSent("connection lost")
        if self._stream.at_eof() or self._writer.transport.is_closing():
            self.fail(rx.ConnectionError("connection closed by the server"))
            raise NotSent("connection closed by the server")
        reply = self._loop.create_future()
        now = self._loop.time()
        self._waiting.append((reply, now))
        if self._deadline is None:
            self._deadline = self._loop.call_at(now + self._timeout, self._check_deadline)
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.extend(packed)
        self._unwritten += 1
        return reply

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self.failed:
            self._writer.writelines(out)
            self._unwritten = 0

    def _check_deadline(self) -> None:
        """Fail the connection when its oldest unanswered command has waited the timeout; else look again
        when it will have (one timer per connection, not one per command)."""
        self._deadline = None
        if not self._waiting:
            return
        due = self._waiting[0][1] + self._timeout
        if self._loop.time() >= due:
            self.fail(rx.TimeoutError(f"no reply within {self._timeout}s"))
        else:
            self._deadline = self._loop.call_at(due, self._check_deadline)

    async def _read(self) -> None:
        parser = self.connection._parser
        waiting = self._waiting
        try:
            while True:
                reply = await parser.read_response()
                future, _ = waiting.popleft()
                if future.done():  # its caller gave up: the reply is dropped, the next one is in step
                    continue
                if isinstance(reply, rx.ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (rx.RedisError, OSError, IndexError) as exc:
            error = exc if isinstance(exc, rx.ConnectionError) else rx.ConnectionError(f"{exc!r}")
            self.fail(error)

    def fail(self, error: rx.RedisError) -> None:
        """Close the connection and fail every command waiting on it (idempotent)."""
        if self.failed:
            return
        self.failed = True
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        waiting, self._waiting = self._waiting, deque()
        written = len(waiting) - self._unwritten
        self._out, self._unwritten = [], 0
        for index, (future, _) in enumerate(waiting):
            if not future.done():
                future.set_exception(type(error)(str(error)) if index < written else NotSent(str(error)))
        if self._reader is not asyncio.current_task():
            self._reader.cancel()
        self.connection._close()

    async def closed(self) -> None:
        """Wait for the reader to end."""
        await asyncio.gather(self._reader, return_exceptions=True)


class ValkeyClient:
    """The process's Valkey client: an async context manager that PINGs on enter.

    Also the "valkey" health probe. Adapters run every command inside `call(operation)` (or `batch` /
    `read`), which times it and turns any driver exception into a port error.
    """

    def __init__(self, *, settings: ValkeySettings, timeout_seconds: float) -> None:
        self._settings = settings
        self._timeout = timeout_seconds
        self._redis: Client | None = None
        # The cluster client fails at once when a node's pool is exhausted (the single-node pool waits):
        # at most max_connections calls in flight keeps every node's pool within its bound.
        self._slots = asyncio.Semaphore(settings.max_connections)
        # A single node's connections have no socket timeout (see connect.single_client): the call has one.
        # The cluster client keeps its socket timeouts, which drive its own retries after a failover.
        self._deadline = None if settings.cluster else timeout_seconds
        self._pipelined: PipelinedCommands | None = None

    @property
    def name(self) -> str:
        """The health service name suffix."""
        return "valkey"

    @property
    def may_resend(self) -> bool:
        """Whether a command may be sent again after a lost connection, although the server may have run
        it: the cluster client and the pooled connections (the path of a write followed by WAIT) retry;
        the single node's pipelined connection sends again only what was never written."""
        return self._settings.cluster or self._settings.replicas_to_wait > 0

    @property
    def clustered(self) -> bool:
        """True on a Valkey Cluster."""
        return self._settings.cluster

    def tracking(self, prefixes: Sequence[str], ignore: Callable[[str], bool]) -> KeyTracking | None:
        """Pushed notice of changes to keys under `prefixes` (None on a cluster: one node's notices would
        not cover the others)."""
        if self._settings.cluster:
            return None
        url, options = connection_options(self._settings)
        return KeyTracking(
            name="valkey",
            url=url,
            prefixes=prefixes,
            timeout_seconds=self._timeout,
            ignore=ignore,
            options=options,
        )

    async def __aenter__(self) -> ValkeyClient:
        if self._settings.cluster:
            self._redis = cluster_client(self._settings, self._timeout)
        else:
            self._redis = single = single_client(self._settings, self._timeout)
            self._pipelined = PipelinedCommands(single, timeout_seconds=self._timeout)
        try:
            await self.ping()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and every connection it holds (idempotent)."""
        redis, self._redis = self._redis, None
        pipelined, self._pipelined = self._pipelined, None
        if pipelined is not None:
            await pipelined.aclose()
        if redis is not None:
            await redis.aclose()

    async def ping(self) -> None:
        """Return when Valkey (every cluster primary) answers PING; StoreUnavailable or StoreTimeout."""
        async with self.call("ping") as redis:
            if isinstance(redis, RedisCluster):
                await redis.execute_command("PING", target_nodes=RedisCluster.PRIMARIES)
            else:
                await redis.ping()

    @asynccontextmanager
    async def call(self, operation: str) -> AsyncIterator[Client]:
        """The client for one store call: timed, counted, and with driver errors translated."""
        redis = self._redis
        if redis is None:
            raise StoreUnavailable("valkey client is not open", backend=BACKEND, operation=operation)
        async with store_call(BACKEND, operation), self._turn(operation):
            try:
                async with asyncio.timeout(self._deadline):
                    yield redis
            except _DRIVER_ERRORS as exc:
                raise translate(exc, operation) from exc
            except AttributeError as exc:
                # The cluster client closes every connection when it reloads the topology (CLUSTERDOWN,
                # a failed node), also connections other calls are using: those calls then fail inside
                # redis-py on a connection whose stream is gone.
                if not raised_by_driver(exc):
                    raise
                message = f"valkey {operation}: connection closed during a topology refresh"
                raise StoreUnavailable(message, backend=BACKEND, operation=operation) from exc

    def _turn(self, operation: str) -> AbstractAsyncContextManager[None]:
        """A place among the calls in flight on a cluster (a single node needs none: nothing to enter)."""
        return self._cluster_turn(operation) if self._settings.cluster else _NO_TURN

    @asynccontextmanager
    async def _cluster_turn(self, operation: str) -> AsyncIterator[None]:
        """A place among the calls in flight on a cluster, waited for up to the store timeout."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise StoreUnavailable(
                "valkey: no connection available", backend=BACKEND, operation=operation
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    def slot_groups(self, keys: Sequence[str]) -> list[list[str]]:
        """Keys grouped so each group is one multi-key command: all of them on a single node, by hash slot
        on a cluster (in first-seen order)."""
        if not self._settings.cluster:
            return [list(keys)] if keys else []
        groups: dict[int, list[str]] = {}
        for key in keys:
            groups.setdefault(key_slot(key.encode("utf-8")), []).append(key)
        return list(groups.values())

    async def read(
        self, operation: str, keys: Sequence[str], extra: Sequence[Command] = ()
    ) -> tuple[dict[str, Any], list[Any]]:
        """The values of `keys` (one MGET per slot group) and the replies of `extra`, in one batch."""
        groups = self.slot_groups(keys)
        commands = [Command(g[0], ("MGET", *g)) for g in groups] + list(extra)
        replies = await self.batch(operation, commands)
        values = {k: v for g, r in zip(groups, replies, strict=False) for k, v in zip(g, r, strict=True)}
        return values, replies[len(groups) :]

    def deletes(self, keys: Sequence[str]) -> list[Command]:
        """Batch commands deleting `keys`: one DEL per slot group."""
        return [Command(group[0], ("DEL", *group)) for group in self.slot_groups(keys)]

    async def run(self, operation: str, command: Command, *, durable: bool = False) -> Any:
        """One command's reply in one round trip: sent alone (no pipeline to build and parse) unless a
        durable write must be followed by a WAIT for replicas on its connection (then as a batch)."""
        if durable and self._settings.replicas_to_wait:
            [reply] = await self.batch(operation, [command], durable=True)
            return reply
        pipelined = self._pipelined
        if pipelined is None:
            async with self.call(operation) as redis:
                return await _sent(redis.execute_command, command)
        async with store_call(BACKEND, operation):  # the connection keeps the deadline
            try:
                return await _sent(pipelined.send, command)
            except _DRIVER_ERRORS as exc:
                raise translate(exc, operation) from exc

    async def batch(
        self, operation: str, commands: Sequence[Command], *, durable: bool = False, atomic: bool = False
    ) -> list[Any]:
        """Run commands in one pipeline (a cluster sends each node its share at once); their replies.

        `durable` writes are followed, on the same connection of each node they touched, by a WAIT for
        the configured number of replicas. `atomic` (not with `durable`) runs the batch in one MULTI/EXEC
        on a single node; a cluster cannot span slots in one transaction, so there each node runs its share
        in order, but not atomically.
        """
        if atomic and durable:
            raise ValueError("a batch is either atomic or durable (WAIT cannot run inside MULTI)")
        if not commands:
            return []
        if len(commands) == 1 and not (durable and self._settings.replicas_to_wait):
            return [await self.run(operation, commands[0])]  # one command: no pipeline to build and parse
        async with self.call(operation) as redis:
            replies = await self._pipeline(redis, commands, durable, operation, atomic=atomic)
            retry = [i for i, r in enumerate(replies) if isinstance(r, rx.NoScriptError)]
            if retry:  # the server (e.g. a freshly promoted replica) has not cached the script yet
                again = [Command(commands[i].key, commands[i].fallback or ()) for i in retry]
                for i, reply in zip(
                    retry, await self._pipeline(redis, again, durable, operation), strict=True
                ):
                    replies[i] = reply
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies

    async def _pipeline(
        self,
        redis: Client,
        commands: Sequence[Command],
        durable: bool,
        operation: str,
        *,
        atomic: bool = False,
    ) -> list[Any]:
        replicas = self._settings.replicas_to_wait if durable else 0
        async with redis.pipeline(transaction=atomic and not self._settings.cluster) as pipe:
            for command in commands:
                pipe.execute_command(*command.args)
            targets = await self._wait_targets(redis, commands) if replicas else []
            for target in targets:
                pipe.execute_command("WAIT", replicas, self._settings.wait_timeout_ms, **target)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        for acknowledged in replies[len(commands) :]:
            if isinstance(acknowledged, int) and acknowledged < replicas:
                log.warning("replica_wait_timed_out", operation=operation, replicas=acknowledged)
        return replies[: len(commands)]

    @staticmethod
    async def _wait_targets(redis: Client, commands: Sequence[Command]) -> list[dict[str, Any]]:
        """One WAIT per node the commands go to (its connection is the one that carried the writes)."""
        if not isinstance(redis, RedisCluster):
            return [{}]
        _ = await redis.initialize()
        found = (redis.get_node_from_key(c.key) for c in commands)
        nodes = {n.name: n for n in found if n is not None}
        return [{"target_nodes": node} for node in nodes.values()]

    async def scan(self, operation: str, match: str, count: int) -> list[str]:
        """Every key matching a SCAN pattern (on a cluster: SCAN of every primary)."""
        async with self.call(operation) as redis:
            return [str(k) async for k in redis.scan_iter(match=match, count=count)]
