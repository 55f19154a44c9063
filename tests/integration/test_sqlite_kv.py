"""The SQLite key-value store beyond the conformance suite: lazy purge, shared files, locks, failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from context_service.adapters.sqlite.kv import SqliteKeyValueStore
from context_service.ports.errors import PortError, StoreTimeout, StoreUnavailable, VersionConflict
from context_service.ports.kv import Versioned


class FakeClock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        """The current reading."""
        return self.now


def stored_keys(path: Path) -> list[str]:
    """Every row of the file, expired or not, read by a plain sqlite3 connection."""
    with sqlite3.connect(path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT key FROM kv"))


async def test_expired_rows_are_purged_by_a_later_write(tmp_path: Path) -> None:
    # Arrange
    clock = FakeClock()
    path = tmp_path / "kv.sqlite3"
    async with SqliteKeyValueStore(path=path, clock=clock, purge_interval_seconds=60) as kv:
        await kv.set("short", {"v": 1}, ttl=10)
        await kv.set("kept", {"v": 1})
        clock.now += 30
        await kv.set("other", {"v": 1})
        before_due = stored_keys(path)
        clock.now += 31

        # Act
        await kv.set("other", {"v": 2})

    # Assert
    assert (before_due, stored_keys(path)) == (["kept", "other", "short"], ["kept", "other"])


async def test_a_key_is_served_until_its_ttl_elapses(tmp_path: Path) -> None:
    # Arrange
    clock = FakeClock()
    async with SqliteKeyValueStore(path=tmp_path / "kv.sqlite3", clock=clock) as kv:
        await kv.set("k", {"v": 1}, ttl=10)
        clock.now += 9.999
        served = await kv.get("k")
        clock.now += 0.001

        # Act
        expired = await kv.get("k")

    # Assert
    assert (served, expired) == ({"v": 1}, None)


async def test_two_stores_on_one_file_lose_no_compare_and_set_update(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "kv.sqlite3"

    async def increment(kv: SqliteKeyValueStore) -> None:
        while True:
            current = await kv.get_versioned("counter")
            version = 0 if current is None else current.version
            count = 0 if current is None else int(current.value["n"])
            try:
                await kv.compare_and_set("counter", version, {"n": count + 1})
            except VersionConflict:
                continue
            return

    async with SqliteKeyValueStore(path=path) as first, SqliteKeyValueStore(path=path) as second:
        # Act
        await asyncio.gather(*(increment(first if i % 2 else second) for i in range(40)))

        # Assert
        assert await first.get_versioned("counter") == Versioned({"n": 40}, 40)


async def test_a_write_blocked_by_another_writer_raises_store_timeout(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "kv.sqlite3"
    async with SqliteKeyValueStore(path=path, timeout_seconds=0.1) as kv:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            # Act
            with pytest.raises(StoreTimeout) as raised:
                await kv.set("k", {"v": 1})
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        # Assert
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        await kv.set("k", {"v": 1})  # works once the other writer is done


async def test_a_path_that_cannot_be_created_raises_store_unavailable(tmp_path: Path) -> None:
    # Arrange
    (tmp_path / "a-file").write_text("not a directory")
    kv = SqliteKeyValueStore(path=tmp_path / "a-file" / "kv.sqlite3")

    # Act
    with pytest.raises(StoreUnavailable):
        await kv.__aenter__()


async def test_a_file_that_is_not_a_database_raises_a_port_error(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "kv.sqlite3"
    path.write_bytes(b"this is not a database file, just text long enough to have a header" * 10)
    kv = SqliteKeyValueStore(path=path)

    # Act
    with pytest.raises(PortError) as raised:
        await kv.__aenter__()

    # Assert
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)


async def test_a_closed_store_raises_store_unavailable_and_is_the_kv_health_probe(tmp_path: Path) -> None:
    # Arrange
    async with SqliteKeyValueStore(path=tmp_path / "kv.sqlite3") as kv:
        await kv.ping()

    # Act
    with pytest.raises(StoreUnavailable):
        await kv.get("k")

    # Assert
    assert kv.name == "kv"


async def test_the_database_uses_write_ahead_logging(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "kv.sqlite3"

    # Act
    async with SqliteKeyValueStore(path=path) as kv:
        await kv.set("k", {"v": 1})

    # Assert
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
