"""How the conformance suites open each adapter, over storage that outlives one opening."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis, RedisCluster

from context_service.adapters.cache.kv import CachetoolsKeyValueStore
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.sqlite.kv import SqliteKeyValueStore
from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.config import ValkeySettings
from context_service.local_cluster import LocalCluster
from context_service.local_servers import LocalServer
from context_service.ports.kv import KeyValueStore

STORE_TIMEOUT = 2.0


class KvClock:
    """A TTL test's time: a manual clock the adapter reads (advanced, never slept), else real time."""

    def __init__(self, *, manual: bool) -> None:
        self._manual = manual
        self._now = time.time()

    def __call__(self) -> float:
        """Seconds now (the adapter's clock when manual)."""
        return self._now if self._manual else time.monotonic()

    async def pass_until(self, moment: float) -> None:
        """Let time pass until `moment`: a jump for a manual clock, a sleep for a real-time server."""
        if self._manual:
            self._now = max(self._now, moment)
        else:
            await asyncio.sleep(max(0.0, moment - time.monotonic()))


@dataclass(frozen=True)
class KvBackend:
    """An adapter under test: `open()` gives a fresh adapter over the same underlying storage."""

    name: str
    open: Callable[[], AbstractAsyncContextManager[KeyValueStore]]
    clock: KvClock


ValkeyTarget = LocalServer | LocalCluster
# The Valkey backends of a parametrised suite: the session's single server, then its cluster.
VALKEYS = [pytest.param(name, marks=pytest.mark.integration) for name in ("valkey", "valkey-cluster")]


def valkey_settings(server: ValkeyTarget) -> ValkeySettings:
    """Settings that point at a local server or cluster."""
    return ValkeySettings(VALKEY_URL=server.url, VALKEY_CLUSTER=isinstance(server, LocalCluster))


def valkey_target(name: str, request: pytest.FixtureRequest) -> ValkeyTarget:
    """The session's single Valkey ("valkey") or its 3+3 Valkey Cluster ("valkey-cluster")."""
    return cast(ValkeyTarget, request.getfixturevalue(name.replace("-", "_")))


def raw_client(server: ValkeyTarget) -> Redis | RedisCluster:
    """A plain redis-py client of a target (to write what other fleet services would)."""
    if isinstance(server, LocalCluster):
        return RedisCluster.from_url(server.url, decode_responses=True)
    return Redis.from_url(server.url, decode_responses=True)


def unique_prefix() -> str:
    """A key prefix of one test, with glob-special characters the adapter must treat literally."""
    return f"ctx:test:[{uuid.uuid4().hex}]*?:"


@asynccontextmanager
async def valkey_client(
    server: ValkeyTarget, timeout_seconds: float = STORE_TIMEOUT
) -> AsyncIterator[ValkeyClient]:
    """An open client of a local server."""
    async with ValkeyClient(settings=valkey_settings(server), timeout_seconds=timeout_seconds) as client:
        yield client


def memory_backend() -> KvBackend:
    """The in-memory adapter (not durable: every open is a new, empty store)."""

    clock = KvClock(manual=True)

    @asynccontextmanager
    async def open_store() -> AsyncIterator[KeyValueStore]:
        yield InMemoryKeyValueStore(monotonic=clock)

    return KvBackend("memory", open_store, clock)


def cachetools_backend() -> KvBackend:
    """The cachetools adapter (not durable)."""

    clock = KvClock(manual=True)

    @asynccontextmanager
    async def open_store() -> AsyncIterator[KeyValueStore]:
        yield CachetoolsKeyValueStore(max_entries=10_000, monotonic=clock)

    return KvBackend("cachetools", open_store, clock)


def valkey_backend(server: ValkeyTarget, prefix: str | None = None) -> KvBackend:
    """The Valkey adapter under one key prefix; reopening is a new client of the same server."""
    chosen = prefix or unique_prefix()

    @asynccontextmanager
    async def open_store() -> AsyncIterator[KeyValueStore]:
        async with valkey_client(server) as client:
            yield ValkeyKeyValueStore(client=client, prefix=chosen)

    name = "valkey-cluster" if isinstance(server, LocalCluster) else "valkey"
    return KvBackend(name, open_store, KvClock(manual=False))  # the server keeps its own time


def sqlite_backend(path: Path) -> KvBackend:
    """The SQLite adapter over one database file."""

    clock = KvClock(manual=True)

    @asynccontextmanager
    async def open_store() -> AsyncIterator[KeyValueStore]:
        async with SqliteKeyValueStore(path=path, timeout_seconds=STORE_TIMEOUT, clock=clock) as store:
            yield store

    return KvBackend("sqlite", open_store, clock)


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> KvBackend:
    """The backend of a parameter name (the Valkey server is started only when a test needs it)."""
    if name == "memory":
        return memory_backend()
    if name == "cachetools":
        return cachetools_backend()
    if name in ("valkey", "valkey-cluster"):
        return valkey_backend(valkey_target(name, request))
    if name == "sqlite":
        return sqlite_backend(tmp_path / "kv.sqlite3")
    raise ValueError(f"unknown backend {name}")
