"""Building the redis-py client for a single Valkey node or a Valkey Cluster from the same settings."""

from __future__ import annotations

from typing import Any

from redis import exceptions as rx
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

from context_service.config import ValkeySettings

# A cluster client retries a call after refreshing the topology (a failed node, CLUSTERDOWN, a slot no
# node covers): twice, within about half a second, so a call during a failover fails fast with UNAVAILABLE
# instead of hanging, and the next call finds the promoted replica.
_CLUSTER_RETRIES = 2


def _address_and_tls(settings: ValkeySettings) -> tuple[str, dict[str, Any]]:
    """The URL (rediss:// when TLS is on) and the TLS options of the settings."""
    address = settings.address
    use_tls = settings.tls or address.startswith("rediss://")
    if use_tls and address.startswith("redis://"):
        address = "rediss://" + address.removeprefix("redis://")
    options: dict[str, Any] = {}
    if use_tls and settings.tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.tls_ca_file)
    return address, options


def _credentials(settings: ValkeySettings) -> dict[str, Any]:
    password = settings.password.get_secret_value() if settings.password else None
    return {"username": settings.username, "password": password}


def connection_options(settings: ValkeySettings) -> tuple[str, dict[str, Any]]:
    """The URL and the keyword options (TLS, credentials) a connection of these settings needs."""
    address, options = _address_and_tls(settings)
    return address, {**options, **_credentials(settings)}


def single_client(settings: ValkeySettings, timeout_seconds: float) -> Redis:
    """A client over one blocking connection pool."""
    address, options = _address_and_tls(settings)
    pool = BlockingConnectionPool.from_url(
        address,
        max_connections=settings.max_connections,
        timeout=timeout_seconds,  # waiting for a free pooled connection
        # No socket timeout (redis-py's default is 5 s): with one, redis-py wraps every send in
        # asyncio.wait_for (a task per command) and every read in a timeout of its own.
        # `ValkeyClient.call` bounds the whole call with one asyncio.timeout instead (cancelling a command
        # closes its connection, so a late reply never reaches the next user).
        socket_timeout=None,
        socket_connect_timeout=timeout_seconds,
        # One immediate retry on a dropped connection (e.g. after a server restart), never on a timeout:
        # the driver's default retries for seconds, which would hide an outage behind the store timeout.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(rx.ConnectionError,)),
        decode_responses=True,
        **_credentials(settings),
        **options,
    )
    return Redis.from_pool(pool)


def cluster_client(settings: ValkeySettings, timeout_seconds: float) -> RedisCluster:
    """A cluster client discovering every node from the one the settings name (lazy: connects on use)."""
    address, options = _address_and_tls(settings)
    return RedisCluster.from_url(
        address,
        max_connections=settings.max_connections,  # per node
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=_CLUSTER_RETRIES),
        decode_responses=True,
        **_credentials(settings),
        **options,
    )
