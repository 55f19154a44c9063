"""KeyValueStore on SQLite: a durable single-node store (WAL), every statement on one dedicated thread.

Expiry times are wall-clock seconds, so TTLs keep counting across restarts. Expired rows are filtered out
of every read and deleted lazily by writes (at most once per purge interval).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from context_service.adapters.kv_glob import literal_prefix, matching
from context_service.observability.metrics import store_call
from context_service.ports.errors import PortError, StoreTimeout, StoreUnavailable, VersionConflict
from context_service.ports.kv import JsonObject, Versioned

BACKEND = "sqlite"
T = TypeVar("T")
Params = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  version INTEGER NOT NULL,
  expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
"""
_LIVE = "(expires_at IS NULL OR expires_at > :now)"
_GET = f"SELECT value, version FROM kv WHERE key = :key AND {_LIVE}"
_GET_MANY = "SELECT key, value FROM kv WHERE key IN ({marks}) AND " + _LIVE.replace(":now", "?")
_LIST = f"SELECT key FROM kv WHERE key GLOB :glob AND {_LIVE}"
# An expired row counts as absent: overwriting it starts again at version 1.
_UPSERT = """
INSERT INTO kv (key, value, version, expires_at) VALUES (:key, :value, 1, :expires)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
  version = CASE WHEN kv.expires_at IS NOT NULL AND kv.expires_at <= :now THEN 1 ELSE kv.version + 1 END
"""
_CREATE_IF_ABSENT = """
INSERT INTO kv (key, value, version, expires_at) VALUES (:key, :value, 1, :expires)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = 1, expires_at = excluded.expires_at
  WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= :now
RETURNING version
"""
_UPDATE_IF_VERSION = f"""
UPDATE kv SET value = :value, version = version + 1, expires_at = :expires
WHERE key = :key AND version = :expected AND {_LIVE}
RETURNING version
"""
_DELETE = "DELETE FROM kv WHERE key = ?"
_PURGE = "DELETE FROM kv WHERE expires_at <= ?"
_BATCH = 500  # bound parameters per IN (...) query, well under SQLite's limit


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _translate(exc: sqlite3.Error, operation: str) -> PortError:
    message = f"sqlite {operation}: {exc}"
    if getattr(exc, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
        return StoreTimeout(message, backend=BACKEND, operation=operation)
    if isinstance(exc, sqlite3.OperationalError):  # cannot open, disk I/O, read-only, full
        return StoreUnavailable(message, backend=BACKEND, operation=operation)
    return PortError(message, backend=BACKEND, operation=operation)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # some errors (a full disk) have rolled it back already
            conn.execute("ROLLBACK")
        raise


class SqliteKeyValueStore:
    """An async context manager: opens (and creates) the database on enter, closes it on exit.

    Also a health probe named "kv".
    """

    def __init__(
        self,
        *,
        path: Path | str,
        timeout_seconds: float = 5.0,
        purge_interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path)
        self._timeout = timeout_seconds
        self._purge_interval = purge_interval_seconds
        self._now = clock
        self._next_purge = 0.0
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        """The health service name suffix."""
        return "kv"

    async def __aenter__(self) -> SqliteKeyValueStore:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kv-sqlite")
        try:
            self._conn = await self._on_thread("open", self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, executor, self._conn, self._executor = self._conn, self._executor, None, None
        if executor is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=False)

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across process crashes
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _on_thread(self, operation: str, work: Callable[[], T]) -> T:
        if self._executor is None:
            raise StoreUnavailable("sqlite store is not open", backend=BACKEND, operation=operation)
        async with store_call(BACKEND, operation):
            try:
                return await asyncio.get_running_loop().run_in_executor(self._executor, work)
            except sqlite3.Error as exc:
                raise _translate(exc, operation) from exc
            except OSError as exc:  # the database directory cannot be created
                raise StoreUnavailable(
                    f"sqlite {operation}: {exc}", backend=BACKEND, operation=operation
                ) from exc

    async def _run(self, operation: str, work: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run `work(connection, now)` on the store's thread."""

        def call() -> T:
            if self._conn is None:
                raise sqlite3.OperationalError("the store is closed")
            return work(self._conn, self._now())

        return await self._on_thread(operation, call)

    def _purge_if_due(self, conn: sqlite3.Connection, now: float) -> None:
        if now >= self._next_purge:
            conn.execute(_PURGE, (now,))
            self._next_purge = now + self._purge_interval

    async def ping(self) -> None:
        """Return when the database answers a query."""
        await self._run("ping", lambda conn, _now: conn.execute("SELECT 1").fetchone())

    async def get(self, key: str) -> JsonObject | None:
        """The value, or None when absent or expired."""
        found = await self.get_versioned(key)
        return None if found is None else found.value

    async def get_versioned(self, key: str) -> Versioned | None:
        """The value with its version, or None when absent or expired."""
        row = await self._run(
            "kv.get", lambda conn, now: conn.execute(_GET, {"key": key, "now": now}).fetchone()
        )
        return None if row is None else Versioned(json.loads(row[0]), row[1])

    async def set(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write (overwrite) a value; without `ttl` the key no longer expires."""
        await self.set_many({key: value}, ttl)

    async def delete(self, key: str) -> None:
        """Remove a key; an absent key is not an error."""
        await self.delete_many([key])

    async def list_keys(self, pattern: str) -> list[str]:
        """Live keys matching a glob, sorted (the index narrows by the pattern's literal prefix)."""
        params = {"glob": _glob_escape(literal_prefix(pattern)) + "*"}
        rows = await self._run(
            "kv.list_keys", lambda conn, now: conn.execute(_LIST, {**params, "now": now}).fetchall()
        )
        return matching((row[0] for row in rows), pattern)

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonObject]:
        """The live values of those keys that exist."""
        wanted = list(dict.fromkeys(keys))

        def read(conn: sqlite3.Connection, now: float) -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = []
            for start in range(0, len(wanted), _BATCH):
                chunk = wanted[start : start + _BATCH]
                query = _GET_MANY.format(marks=",".join("?" * len(chunk)))
                rows += conn.execute(query, (*chunk, now)).fetchall()
            return rows

        rows = await self._run("kv.get_many", read) if wanted else []
        return {key: json.loads(value) for key, value in rows}

    async def set_many(self, items: Mapping[str, JsonObject], ttl: float | None = None) -> None:
        """Write several values in one transaction."""
        encoded = [(key, json.dumps(dict(value))) for key, value in items.items()]

        def write(conn: sqlite3.Connection, now: float) -> None:
            expires = None if ttl is None else now + ttl
            with _transaction(conn):
                conn.executemany(
                    _UPSERT, [{"key": k, "value": v, "expires": expires, "now": now} for k, v in encoded]
                )
                self._purge_if_due(conn, now)

        if encoded:
            await self._run("kv.set", write)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys in one transaction."""
        names = [(key,) for key in dict.fromkeys(keys)]

        def remove(conn: sqlite3.Connection, _now: float) -> None:
            with _transaction(conn):
                conn.executemany(_DELETE, names)

        if names:
            await self._run("kv.delete", remove)

    async def compare_and_set(
        self, key: str, expected_version: int, value: JsonObject, ttl: float | None = None
    ) -> int:
        """Write only if the stored version equals `expected_version` (0 = absent); the new version."""
        payload = json.dumps(dict(value))

        def swap(conn: sqlite3.Connection, now: float) -> tuple[int | None, int]:
            params = {"key": key, "value": payload, "expected": expected_version, "now": now}
            params["expires"] = None if ttl is None else now + ttl
            # fetchall(): a RETURNING statement completes (and autocommits) only once its rows are read
            query = _UPDATE_IF_VERSION if expected_version else _CREATE_IF_ABSENT
            written = conn.execute(query, params).fetchall()
            if written:
                return int(written[0][0]), 0
            current = conn.execute(_GET, params).fetchone()
            return None, 0 if current is None else int(current[1])

        version, current = await self._run("kv.cas", swap)
        if version is None:
            raise VersionConflict(
                f"version is {current}, expected {expected_version}", backend=BACKEND, operation="kv.cas"
            )
        return version
