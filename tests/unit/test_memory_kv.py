"""InMemoryKeyValueStore TTL boundaries on a fake clock.

Everything else of the KeyValueStore semantics (03 §3.4) runs against every adapter, this one included,
in tests/conformance/test_kv_conformance.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.ports.errors import VersionConflict


class FakeMonotonic:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The current reading."""
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    """A controllable monotonic time source."""
    return FakeMonotonic()


@pytest.fixture
def store(clock: FakeMonotonic) -> InMemoryKeyValueStore:
    """An empty store driven by the fake clock."""
    return InMemoryKeyValueStore(monotonic=clock)


# --- TTL --------------------------------------------------------------------------------------------

ReadMethod = Callable[[InMemoryKeyValueStore], Awaitable[object]]
EXPIRED_READS: list[Any] = [
    pytest.param(lambda s: s.get("k"), None, id="get"),
    pytest.param(lambda s: s.get_versioned("k"), None, id="get_versioned"),
    pytest.param(lambda s: s.list_keys("*"), ["other"], id="list_keys"),
    pytest.param(lambda s: s.get_many(["k", "other"]), {"other": {"v": "other"}}, id="get_many"),
]


@pytest.mark.parametrize(("read", "expected"), EXPIRED_READS)
async def test_expired_key_is_never_returned(
    store: InMemoryKeyValueStore, clock: FakeMonotonic, read: ReadMethod, expected: object
) -> None:
    # Arrange
    await store.set("k", {"v": "k"}, ttl=10)
    await store.set("other", {"v": "other"})
    clock.now += 10

    # Act
    result = await read(store)

    # Assert
    assert result == expected


@pytest.mark.parametrize(("read", "expected"), EXPIRED_READS)
async def test_expired_key_written_in_a_batch_is_never_returned(
    store: InMemoryKeyValueStore, clock: FakeMonotonic, read: ReadMethod, expected: object
) -> None:
    # Arrange
    await store.set_many({"k": {"v": "k"}}, ttl=5)
    await store.set("other", {"v": "other"})
    clock.now += 6

    # Act
    result = await read(store)

    # Assert
    assert result == expected


async def test_key_is_served_until_its_ttl_elapses(
    store: InMemoryKeyValueStore, clock: FakeMonotonic
) -> None:
    # Arrange
    await store.set("k", {"v": 1}, ttl=10)
    clock.now += 9.999

    # Act
    value = await store.get("k")

    # Assert
    assert value == {"v": 1}


async def test_key_without_ttl_never_expires(store: InMemoryKeyValueStore, clock: FakeMonotonic) -> None:
    # Arrange
    await store.set("k", {"v": 1})
    clock.now += 10**9

    # Act
    value = await store.get("k")

    # Assert
    assert value == {"v": 1}


async def test_overwrite_without_ttl_clears_the_previous_ttl(
    store: InMemoryKeyValueStore, clock: FakeMonotonic
) -> None:
    # Arrange
    await store.set("k", {"v": 1}, ttl=10)
    await store.set("k", {"v": 2})
    clock.now += 100

    # Act
    value = await store.get("k")

    # Assert
    assert value == {"v": 2}


async def test_expired_key_counts_as_absent_for_compare_and_set(
    store: InMemoryKeyValueStore, clock: FakeMonotonic
) -> None:
    # Arrange
    await store.set("k", {"v": 1}, ttl=10)
    clock.now += 10

    # Act
    version = await store.compare_and_set("k", 0, {"v": 2})

    # Assert
    assert (version, await store.get("k")) == (1, {"v": 2})


async def test_compare_and_set_against_the_version_of_an_expired_key_conflicts(
    store: InMemoryKeyValueStore, clock: FakeMonotonic
) -> None:
    # Arrange
    await store.set("k", {"v": 1}, ttl=10)
    clock.now += 10

    # Act
    with pytest.raises(VersionConflict):
        await store.compare_and_set("k", 1, {"v": 2})


async def test_compare_and_set_applies_its_ttl(store: InMemoryKeyValueStore, clock: FakeMonotonic) -> None:
    # Arrange
    await store.compare_and_set("k", 0, {"v": 1}, ttl=10)
    clock.now += 10

    # Act
    value = await store.get("k")

    # Assert
    assert value is None
