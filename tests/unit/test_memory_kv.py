"""Unit tests for InMemoryKeyValueStore against the KeyValueStore semantics of 03 §3.4."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.ports.errors import VersionConflict

NESTED: dict[str, Any] = {
    "int": 42,
    "zero": 0,
    "negative": -7,
    "big": 2**62,
    "float": 3.25,
    "whole_float": 2.0,
    "true": True,
    "false": False,
    "none": None,
    "text": "plain",
    "empty": "",
    "unicode": "naïve café — 東京 🚀",
    "list": [1, "two", 3.0, False, None, {"deep": [[]]}],
    "nested": {"a": {"b": {"c": [1, {"d": "e"}]}}},
    "empty_list": [],
    "empty_dict": {},
}


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


# --- round trip and isolation -----------------------------------------------------------------------


async def test_nested_json_round_trips_with_types_intact(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", NESTED)

    # Act
    value = await store.get("k")

    # Assert
    assert value == NESTED


@pytest.mark.parametrize(
    ("key", "expected_type"),
    [
        ("int", int),
        ("big", int),
        ("float", float),
        ("whole_float", float),
        ("true", bool),
        ("none", type(None)),
        ("unicode", str),
        ("list", list),
        ("nested", dict),
    ],
)
async def test_round_trip_keeps_each_value_type(
    store: InMemoryKeyValueStore, key: str, expected_type: type
) -> None:
    # Arrange
    await store.set("k", NESTED)

    # Act
    value = await store.get("k")

    # Assert
    assert value is not None
    assert type(value[key]) is expected_type


async def test_mutating_the_written_value_afterwards_does_not_change_what_is_stored(
    store: InMemoryKeyValueStore,
) -> None:
    # Arrange
    value: dict[str, Any] = {"list": [1], "nested": {"a": 1}}
    await store.set("k", value)

    # Act
    value["list"].append(2)
    value["nested"]["a"] = 99
    value["added"] = True

    # Assert
    assert await store.get("k") == {"list": [1], "nested": {"a": 1}}


async def test_mutating_a_read_value_does_not_change_what_is_stored(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", {"list": [1], "nested": {"a": 1}})
    read = await store.get("k")
    assert read is not None

    # Act
    read["list"].append(2)
    read["nested"]["a"] = 99

    # Assert
    assert await store.get("k") == {"list": [1], "nested": {"a": 1}}


async def test_mutating_a_batch_read_value_does_not_change_what_is_stored(
    store: InMemoryKeyValueStore,
) -> None:
    # Arrange
    await store.set("k", {"list": [1]})
    read = await store.get_many(["k"])

    # Act
    read["k"]["list"].append(2)

    # Assert
    assert await store.get("k") == {"list": [1]}


async def test_mutating_a_versioned_read_does_not_change_what_is_stored(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", {"list": [1]})
    read = await store.get_versioned("k")
    assert read is not None

    # Act
    read.value["list"].append(2)

    # Assert
    assert await store.get("k") == {"list": [1]}


# --- basic operations -------------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(store: InMemoryKeyValueStore) -> None:
    # Act
    value = await store.get("missing")

    # Assert
    assert value is None


async def test_set_overwrites_the_previous_value(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", {"v": 1, "only_old": True})

    # Act
    await store.set("k", {"v": 2})

    # Assert
    assert await store.get("k") == {"v": 2}


async def test_delete_removes_the_key(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", {"v": 1})

    # Act
    await store.delete("k")

    # Assert
    assert await store.get("k") is None


async def test_delete_of_a_missing_key_is_not_an_error(store: InMemoryKeyValueStore) -> None:
    # Act
    await store.delete("missing")

    # Assert
    assert await store.list_keys("*") == []


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", ["a:1", "a:10", "a:2", "b:1", "swe:case:S-1:spec", "swe:case:S-2:spec"]),
        ("a:*", ["a:1", "a:10", "a:2"]),
        ("a:?", ["a:1", "a:2"]),
        ("?:1", ["a:1", "b:1"]),
        ("swe:case:*:spec", ["swe:case:S-1:spec", "swe:case:S-2:spec"]),
        ("swe:case:S-?:spec", ["swe:case:S-1:spec", "swe:case:S-2:spec"]),
        ("a:1", ["a:1"]),
        ("A:*", []),
        ("c:*", []),
    ],
)
async def test_list_keys_matches_a_glob_and_returns_keys_sorted(
    store: InMemoryKeyValueStore, pattern: str, expected: list[str]
) -> None:
    # Arrange
    for key in ["b:1", "swe:case:S-2:spec", "a:2", "a:10", "swe:case:S-1:spec", "a:1"]:
        await store.set(key, {"k": key})

    # Act
    keys = await store.list_keys(pattern)

    # Assert
    assert keys == expected


async def test_get_many_returns_only_the_keys_that_exist(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("a", {"v": 1})
    await store.set("b", {"v": 2})

    # Act
    found = await store.get_many(["a", "missing", "b"])

    # Assert
    assert found == {"a": {"v": 1}, "b": {"v": 2}}


async def test_set_many_writes_every_value(store: InMemoryKeyValueStore) -> None:
    # Act
    await store.set_many({"a": {"v": 1}, "b": {"v": [2]}})

    # Assert
    assert await store.get_many(["a", "b"]) == {"a": {"v": 1}, "b": {"v": [2]}}


async def test_delete_many_removes_every_key_and_ignores_missing_ones(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set_many({"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}})

    # Act
    await store.delete_many(["a", "missing", "c"])

    # Assert
    assert await store.list_keys("*") == ["b"]


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


# --- versions and compare-and-set -------------------------------------------------------------------


async def test_versions_start_at_one_and_grow_by_one_per_write(store: InMemoryKeyValueStore) -> None:
    # Arrange
    for i in range(3):
        await store.set("k", {"v": i})

    # Act
    versioned = await store.get_versioned("k")

    # Assert
    assert versioned is not None
    assert (versioned.version, versioned.value) == (3, {"v": 2})


async def test_compare_and_set_with_zero_creates_an_absent_key(store: InMemoryKeyValueStore) -> None:
    # Act
    version = await store.compare_and_set("k", 0, {"v": 1})

    # Assert
    assert (version, await store.get("k")) == (1, {"v": 1})


async def test_compare_and_set_with_zero_conflicts_when_the_key_exists(store: InMemoryKeyValueStore) -> None:
    # Arrange
    await store.set("k", {"v": 1})

    # Act
    with pytest.raises(VersionConflict):
        await store.compare_and_set("k", 0, {"v": 2})

    # Assert
    assert await store.get("k") == {"v": 1}


async def test_compare_and_set_with_the_current_version_writes_and_returns_the_new_version(
    store: InMemoryKeyValueStore,
) -> None:
    # Arrange
    await store.set("k", {"v": 1})
    await store.set("k", {"v": 2})

    # Act
    version = await store.compare_and_set("k", 2, {"v": 3})

    # Assert
    versioned = await store.get_versioned("k")
    assert versioned is not None
    assert (version, versioned.version, versioned.value) == (3, 3, {"v": 3})


@pytest.mark.parametrize("wrong", [1, 3, 99])
async def test_compare_and_set_with_a_wrong_version_conflicts_and_keeps_the_value(
    store: InMemoryKeyValueStore, wrong: int
) -> None:
    # Arrange
    await store.set("k", {"v": 1})
    await store.set("k", {"v": 2})

    # Act
    with pytest.raises(VersionConflict):
        await store.compare_and_set("k", wrong, {"v": "lost"})

    # Assert
    versioned = await store.get_versioned("k")
    assert versioned is not None
    assert (versioned.version, versioned.value) == (2, {"v": 2})


@pytest.mark.parametrize("wrong", [1, 5])
async def test_compare_and_set_on_an_absent_key_with_a_nonzero_version_conflicts(
    store: InMemoryKeyValueStore, wrong: int
) -> None:
    # Act
    with pytest.raises(VersionConflict):
        await store.compare_and_set("k", wrong, {"v": 1})

    # Assert
    assert await store.get("k") is None


async def test_concurrent_cas_increments_lose_no_update(store: InMemoryKeyValueStore) -> None:
    # Arrange
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        while True:
            current = await store.get_versioned("counter")
            expected = 0 if current is None else current.version
            count = 0 if current is None else int(current.value["n"])
            await asyncio.sleep(0)  # a yield point (no waiting) so the other tasks interleave here
            try:
                await store.compare_and_set("counter", expected, {"n": count + 1})
            except VersionConflict:
                conflicts += 1
                continue
            return

    # Act
    await asyncio.gather(*(increment() for _ in range(100)))

    # Assert
    final = await store.get("counter")
    assert final == {"n": 100}
    assert conflicts > 0  # the tasks really raced
