"""CachetoolsKeyValueStore beyond the conformance suite: the LRU bound and exact TTL boundaries."""

from __future__ import annotations

import pytest

from context_service.adapters.cache.kv import CachetoolsKeyValueStore
from context_service.ports.errors import VersionConflict
from context_service.ports.kv import Versioned


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


async def test_the_least_recently_used_key_is_evicted_beyond_max_entries() -> None:
    # Arrange
    kv = CachetoolsKeyValueStore(max_entries=2)
    await kv.set("a", {"v": 1})
    await kv.set("b", {"v": 2})
    await kv.get("a")

    # Act
    await kv.set("c", {"v": 3})

    # Assert
    assert await kv.list_keys("*") == ["a", "c"]


async def test_an_evicted_key_is_absent_for_compare_and_set() -> None:
    # Arrange
    kv = CachetoolsKeyValueStore(max_entries=1)
    await kv.set("a", {"v": 1})
    await kv.set("b", {"v": 1})

    # Act
    version = await kv.compare_and_set("a", 0, {"v": 2})

    # Assert
    assert (version, await kv.get_versioned("a")) == (1, Versioned({"v": 2}, 1))


async def test_each_key_keeps_its_own_ttl(clock: FakeMonotonic) -> None:
    # Arrange
    kv = CachetoolsKeyValueStore(monotonic=clock)
    await kv.set("short", {"v": 1}, ttl=10)
    await kv.set("long", {"v": 1}, ttl=100)
    await kv.set("forever", {"v": 1})

    # Act
    clock.now += 50

    # Assert
    assert await kv.list_keys("*") == ["forever", "long"]


async def test_a_key_is_served_until_its_ttl_elapses(clock: FakeMonotonic) -> None:
    # Arrange
    kv = CachetoolsKeyValueStore(monotonic=clock)
    await kv.set("k", {"v": 1}, ttl=10)
    clock.now += 9.999
    served = await kv.get("k")

    # Act
    clock.now += 0.001

    # Assert
    assert (served, await kv.get("k"), await kv.get_many(["k"])) == ({"v": 1}, None, {})


async def test_compare_and_set_against_an_expired_version_conflicts(clock: FakeMonotonic) -> None:
    # Arrange
    kv = CachetoolsKeyValueStore(monotonic=clock)
    await kv.set("k", {"v": 1}, ttl=10)
    clock.now += 10

    # Act
    with pytest.raises(VersionConflict):
        await kv.compare_and_set("k", 1, {"v": 2})

    # Assert
    assert await kv.get("k") is None
