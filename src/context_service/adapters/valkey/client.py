"""One pooled redis.asyncio client per process, and the one place Valkey errors become port errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from context_service.config import ValkeySettings
from context_service.observability.metrics import store_call
from context_service.ports.errors import PortError, StoreTimeout, StoreUnavailable

BACKEND = "valkey"

# Replies that mean "this server cannot serve right now" rather than "this command is wrong".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # refused, reset, auth, LOADING (BusyLoadingError), pool exhausted
    rx.ReadOnlyError,
    rx.OutOfMemoryError,
    rx.TryAgainError,
    rx.ClusterDownError,  # also MASTERDOWN
    OSError,
)


def translate(exc: BaseException, operation: str) -> PortError:
    """The port error for a driver exception (timeouts first: the builtin TimeoutError is an OSError)."""
    message = f"valkey {operation}: {exc}"
    if isinstance(exc, rx.TimeoutError | TimeoutError):
        return StoreTimeout(message, backend=BACKEND, operation=operation)
    if isinstance(exc, _UNAVAILABLE) or str(exc).startswith("BUSY"):
        return StoreUnavailable(message, backend=BACKEND, operation=operation)
    return PortError(message, backend=BACKEND, operation=operation)


def _pool(settings: ValkeySettings, timeout_seconds: float) -> BlockingConnectionPool:
    address = settings.address
    use_tls = settings.tls or address.startswith("rediss://")
    if use_tls and address.startswith("redis://"):
        address = "rediss://" + address.removeprefix("redis://")
    options: dict[str, object] = {}
    if use_tls and settings.tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.tls_ca_file)
    return BlockingConnectionPool.from_url(
        address,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        max_connections=settings.max_connections,
        timeout=timeout_seconds,  # waiting for a free pooled connection
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        # One immediate retry on a dropped connection (e.g. after a server restart), never on a timeout:
        # the driver's default retries for seconds, which would hide an outage behind the store timeout.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(rx.ConnectionError,)),
        decode_responses=True,
        **options,
    )


class ValkeyClient:
    """The process's Valkey connection pool: an async context manager that PINGs on enter.

    Also the "valkey" health probe. Adapters run every command inside `call(operation)`, which times it
    and turns any driver exception into a port error.
    """

    def __init__(self, *, settings: ValkeySettings, timeout_seconds: float) -> None:
        self._settings = settings
        self._timeout = timeout_seconds
        self._redis: Redis | None = None

    @property
    def name(self) -> str:
        """The health service name suffix."""
        return "valkey"

    async def __aenter__(self) -> ValkeyClient:
        self._redis = Redis.from_pool(_pool(self._settings, self._timeout))
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
        """Close the pool and every connection in it (idempotent)."""
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose()

    async def ping(self) -> None:
        """Return when Valkey answers PING; StoreUnavailable or StoreTimeout otherwise."""
        async with self.call("ping") as redis:
            await redis.ping()

    @asynccontextmanager
    async def call(self, operation: str) -> AsyncIterator[Redis]:
        """The client for one store call: timed, counted, and with driver errors translated."""
        redis = self._redis
        if redis is None:
            raise StoreUnavailable("valkey client is not open", backend=BACKEND, operation=operation)
        async with store_call(BACKEND, operation):
            try:
                yield redis
            except (rx.RedisError, OSError) as exc:
                raise translate(exc, operation) from exc
