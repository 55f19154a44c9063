"""One pooled Valkey client per process (single node or Valkey Cluster), and the one place Valkey errors
become port errors.

Adapters run single-key commands inside `call(operation)` and batches through `batch`/`read`, which group
keys by hash slot so the same code serves a single node (one round trip) and a cluster (one round trip
per node, sent concurrently).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
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


@dataclass(frozen=True)
class Command:
    """One command of a batch: `key` routes it; `fallback` replaces it when the server lacks a script."""

    key: str
    args: tuple[EncodableT, ...]
    fallback: tuple[EncodableT, ...] | None = None


class DirectCommands:
    """Single commands to a single node on connections kept aside from the pool, without its per-call work.

    redis-py's pool adds about half again to a command's CPU (a lock and a stale-data check on every
    checkout, a lock on every return: 150-175 µs against 97 µs per GET, measured). A connection here is used
    by one command at a time and kept only after a whole reply was read; any other outcome (an error, or the
    call's deadline cancelling it mid-reply) closes it, so no late reply reaches a later command. A dropped
    connection (e.g. after a server restart) is retried once on a new one, as the pool's retry policy does.
    At most `spares` connections are kept; a command finding none idle opens one, beyond that it goes through
    the pool.
    """

    def __init__(self, redis: Redis, *, spares: int) -> None:
        self._redis: Any = redis  # its pool and connection methods are untyped
        self._idle: list[Any] = []
        self._spares = spares
        self._open = 0
        self._closed = False

    async def send(self, *args: EncodableT) -> Any:
        """The command's reply, parsed as `Redis.execute_command` would."""
        if self._idle:
            connection = self._idle.pop()
        elif self._open < self._spares:
            connection = self._redis.connection_pool.make_connection()
            self._open += 1
        else:
            return await self._redis.execute_command(*args)
        try:
            try:
                reply = await self._exchange(connection, args)
            except rx.ConnectionError:  # dropped (e.g. a server restart): once more, on a new connection
                await connection.disconnect(nowait=True)
                reply = await self._exchange(connection, args)
        except rx.ResponseError:
            await self._keep(connection)  # an error reply, read whole: the connection is in step
            raise
        except BaseException:
            await connection.disconnect(nowait=True)
            self._open -= 1
            raise
        await self._keep(connection)
        return reply

    async def _keep(self, connection: Any) -> None:
        if self._closed:  # the client closed while this command ran
            await connection.disconnect()
        else:
            self._idle.append(connection)

    async def _exchange(self, connection: Any, args: tuple[EncodableT, ...]) -> Any:
        await connection.send_packed_command(connection.pack_command(*args), check_health=False)
        return await self._redis.parse_response(connection, args[0])

    async def aclose(self) -> None:
        """Close every kept connection (and each one in use once its command ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()


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
        self._direct: DirectCommands | None = None

    @property
    def name(self) -> str:
        """The health service name suffix."""
        return "valkey"

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
            self._direct = DirectCommands(single, spares=self._settings.max_connections)
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
        direct, self._direct = self._direct, None
        if direct is not None:
            await direct.aclose()
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
            except (rx.RedisError, rx.RedisClusterException, OSError) as exc:
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
        async with self.call(operation) as redis:
            send = self._direct.send if self._direct is not None else redis.execute_command
            try:
                return await send(*command.args)
            except rx.NoScriptError:  # the server (e.g. a freshly promoted replica) has not cached the script
                return await send(*(command.fallback or command.args))

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
