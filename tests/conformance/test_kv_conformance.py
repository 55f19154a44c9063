"""KeyValueStore conformance (03 §3.4): one test body for the memory, cachetools, Valkey, SQLite adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from context_service.ports.errors import VersionConflict
from context_service.ports.kv import KeyValueStore, Versioned
from tests.conformance.backends import VALKEYS, KvBackend, KvClock, make_backend

BACKENDS = ["memory", "cachetools", *VALKEYS, "sqlite"]
DURABLE_BACKENDS = [*VALKEYS, "sqlite"]
SHORT_TTL = 0.2  # seconds: long enough to read a key back right after writing it, short enough to wait out

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
    "quotes": 'say "hi" \\ {"version":9,',
    "list": [1, "two", 3.0, False, None, {"deep": [[]]}],
    "nested": {"a": {"b": {"c": [1, {"d": "e"}]}}},
    "empty_list": [],
    "empty_dict": {},
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> KvBackend:
    """Each adapter in turn."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=DURABLE_BACKENDS)
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> KvBackend:
    """The adapters that claim durability."""
    return make_backend(request.param, request, tmp_path)


@pytest.fixture
async def kv(backend: KvBackend) -> AsyncIterator[KeyValueStore]:
    """An open, empty store of the adapter under test."""
    async with backend.open() as store:
        yield store


@pytest.fixture
def clock(backend: KvBackend) -> KvClock:
    """The time the adapter under test runs on."""
    return backend.clock


async def write_with_ttl(kv: KeyValueStore, clock: KvClock, key: str, ttl: float = SHORT_TTL) -> float:
    """Write `key` with a TTL; the moment by which it has certainly expired."""
    await kv.set(key, {"v": key}, ttl=ttl)
    return clock() + ttl + 0.01


# --- round trip and isolation -----------------------------------------------------------------------


async def test_nested_json_round_trips_with_types_intact(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", NESTED)

    # Act
    value = await kv.get("k")

    # Assert
    assert value == NESTED


@pytest.mark.parametrize(
    ("field", "expected_type"),
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
        ("empty_list", list),
        ("empty_dict", dict),
    ],
)
async def test_round_trip_keeps_each_value_type(kv: KeyValueStore, field: str, expected_type: type) -> None:
    # Arrange
    await kv.set("k", NESTED)

    # Act
    versioned = await kv.get_versioned("k")
    batch = await kv.get_many(["k"])

    # Assert
    assert versioned is not None
    assert type(versioned.value[field]) is expected_type
    assert type(batch["k"][field]) is expected_type


async def test_mutating_the_written_value_afterwards_does_not_change_what_is_stored(
    kv: KeyValueStore,
) -> None:
    # Arrange
    value: dict[str, Any] = {"list": [1], "nested": {"a": 1}}
    await kv.set("k", value)

    # Act
    value["list"].append(2)
    value["nested"]["a"] = 99

    # Assert
    assert await kv.get("k") == {"list": [1], "nested": {"a": 1}}


async def test_mutating_a_read_value_does_not_change_what_is_stored(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"list": [1]})
    read = await kv.get("k")
    assert read is not None

    # Act
    read["list"].append(2)

    # Assert
    assert await kv.get("k") == {"list": [1]}


async def test_mutating_a_batch_read_value_does_not_change_what_is_stored(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"list": [1]})
    read = await kv.get_many(["k"])

    # Act
    read["k"]["list"].append(2)

    # Assert
    assert await kv.get("k") == {"list": [1]}


async def test_mutating_a_versioned_read_does_not_change_what_is_stored(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"list": [1]})
    read = await kv.get_versioned("k")
    assert read is not None

    # Act
    read.value["list"].append(2)

    # Assert
    assert await kv.get("k") == {"list": [1]}


# --- basic operations -------------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(kv: KeyValueStore) -> None:
    # Act
    value = await kv.get("missing")

    # Assert
    assert value is None


async def test_set_overwrites_the_previous_value(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1, "only_old": True})

    # Act
    await kv.set("k", {"v": 2})

    # Assert
    assert await kv.get("k") == {"v": 2}


async def test_delete_removes_the_key(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1})

    # Act
    await kv.delete("k")

    # Assert
    assert (await kv.get("k"), await kv.list_keys("*")) == (None, [])


async def test_delete_of_a_missing_key_is_not_an_error(kv: KeyValueStore) -> None:
    # Act
    await kv.delete("missing")

    # Assert
    assert await kv.list_keys("*") == []


GLOB_KEYS = [
    "b:1",
    "swe:case:S-2:spec",
    "a:2",
    "a:10",
    "swe:case:S-1:spec",
    "a:1",
    "lit:*",
    "lit:?",
    "lit:[ab]",
    "lit:a",
    "lit:b",
    "lit:c",
    "lit:\\",
    "lit:]",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param("*", sorted(GLOB_KEYS), id="star-everything"),
        ("a:*", ["a:1", "a:10", "a:2"]),
        ("a:?", ["a:1", "a:2"]),
        ("?:1", ["a:1", "b:1"]),
        ("swe:case:*:spec", ["swe:case:S-1:spec", "swe:case:S-2:spec"]),
        ("swe:case:S-?:spec", ["swe:case:S-1:spec", "swe:case:S-2:spec"]),
        ("a:1", ["a:1"]),
        pytest.param("A:*", [], id="case-sensitive"),
        ("c:*", []),
        pytest.param("lit:[ab]", ["lit:a", "lit:b"], id="class"),
        pytest.param("lit:[!ab]", ["lit:*", "lit:?", "lit:\\", "lit:]", "lit:c"], id="negated-class"),
        pytest.param("lit:?", ["lit:*", "lit:?", "lit:\\", "lit:]", "lit:a", "lit:b", "lit:c"], id="any-one"),
        pytest.param("lit:[*]", ["lit:*"], id="literal-star"),
        pytest.param("lit:[?]", ["lit:?"], id="literal-question-mark"),
        pytest.param("lit:[[]ab]", ["lit:[ab]"], id="literal-bracket"),
        pytest.param("lit:\\", ["lit:\\"], id="backslash-is-literal"),
        pytest.param("lit:]", ["lit:]"], id="closing-bracket-is-literal"),
    ],
)
async def test_list_keys_matches_a_glob_and_returns_keys_sorted(
    kv: KeyValueStore, pattern: str, expected: list[str]
) -> None:
    # Arrange
    await kv.set_many({key: {"k": key} for key in GLOB_KEYS})

    # Act
    keys = await kv.list_keys(pattern)

    # Assert
    assert keys == expected


async def test_get_many_returns_only_the_keys_that_exist(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("a", {"v": 1})
    await kv.set("b", {"v": 2})

    # Act
    found = await kv.get_many(["a", "missing", "b", "a"])

    # Assert
    assert found == {"a": {"v": 1}, "b": {"v": 2}}


async def test_set_many_writes_every_value(kv: KeyValueStore) -> None:
    # Act
    await kv.set_many({"a": {"v": 1}, "b": {"v": [2]}, "c": NESTED})

    # Assert
    assert await kv.get_many(["a", "b", "c"]) == {"a": {"v": 1}, "b": {"v": [2]}, "c": NESTED}


async def test_delete_many_removes_every_key_and_ignores_missing_ones(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set_many({"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}})

    # Act
    await kv.delete_many(["a", "missing", "c"])

    # Assert
    assert await kv.list_keys("*") == ["b"]


async def test_empty_batches_do_nothing(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1})

    # Act
    found = await kv.get_many([])
    await kv.set_many({})
    await kv.delete_many([])

    # Assert
    assert (found, await kv.list_keys("*")) == ({}, ["k"])


async def test_a_large_batch_round_trips(kv: KeyValueStore) -> None:
    # Arrange
    items = {f"key:{i:04}": {"i": i} for i in range(1200)}

    # Act
    await kv.set_many(items)

    # Assert
    assert await kv.get_many(list(items)) == items
    assert len(await kv.list_keys("key:*")) == 1200


# --- TTL --------------------------------------------------------------------------------------------

Read = Callable[[KeyValueStore], Awaitable[object]]
EXPIRED_READS: list[Any] = [
    pytest.param(lambda s: s.get("k"), None, id="get"),
    pytest.param(lambda s: s.get_versioned("k"), None, id="get_versioned"),
    pytest.param(lambda s: s.list_keys("*"), ["other"], id="list_keys"),
    pytest.param(lambda s: s.get_many(["k", "other"]), {"other": {"v": "other"}}, id="get_many"),
]


@pytest.mark.parametrize(("read", "expected"), EXPIRED_READS)
async def test_key_is_served_until_its_ttl_then_never_returned(
    kv: KeyValueStore, clock: KvClock, read: Read, expected: object
) -> None:
    # Arrange
    await kv.set("other", {"v": "other"})
    expired_by = await write_with_ttl(kv, clock, "k")
    served = await read(kv)

    # Act
    await clock.pass_until(expired_by)
    result = await read(kv)

    # Assert
    assert served != expected
    assert result == expected


@pytest.mark.parametrize(("read", "expected"), EXPIRED_READS)
async def test_expired_key_written_in_a_batch_is_never_returned(
    kv: KeyValueStore, clock: KvClock, read: Read, expected: object
) -> None:
    # Arrange
    await kv.set_many({"k": {"v": "k"}}, ttl=SHORT_TTL)
    expired_by = clock() + SHORT_TTL + 0.01
    await kv.set("other", {"v": "other"})

    # Act
    await clock.pass_until(expired_by)
    result = await read(kv)

    # Assert
    assert result == expected


async def test_key_without_ttl_does_not_expire(kv: KeyValueStore, clock: KvClock) -> None:
    # Arrange
    await kv.set("k", {"v": 1})
    expired_by = await write_with_ttl(kv, clock, "short")

    # Act
    await clock.pass_until(expired_by)

    # Assert
    assert await kv.list_keys("*") == ["k"]


async def test_overwrite_without_ttl_clears_the_previous_ttl(kv: KeyValueStore, clock: KvClock) -> None:
    # Arrange
    expired_by = await write_with_ttl(kv, clock, "k")
    await kv.set("k", {"v": 2})

    # Act
    await clock.pass_until(expired_by)

    # Assert
    assert await kv.get("k") == {"v": 2}


async def test_zero_ttl_writes_an_already_expired_key(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1})

    # Act
    await kv.set("k", {"v": 2}, ttl=0)

    # Assert
    assert (await kv.get("k"), await kv.list_keys("*")) == (None, [])


async def test_expired_key_counts_as_absent_for_compare_and_set(kv: KeyValueStore, clock: KvClock) -> None:
    # Arrange
    await kv.set("k", {"v": 0})
    expired_by = await write_with_ttl(kv, clock, "k")
    await clock.pass_until(expired_by)

    # Act
    version = await kv.compare_and_set("k", 0, {"v": 2})

    # Assert
    assert (version, await kv.get_versioned("k")) == (1, Versioned({"v": 2}, 1))


async def test_a_key_written_again_after_it_expired_starts_at_version_one(
    kv: KeyValueStore, clock: KvClock
) -> None:
    # Arrange
    await kv.set("k", {"v": 0})
    expired_by = await write_with_ttl(kv, clock, "k")
    await clock.pass_until(expired_by)

    # Act
    await kv.set("k", {"v": 2})

    # Assert
    assert await kv.get_versioned("k") == Versioned({"v": 2}, 1)


async def test_compare_and_set_against_the_version_of_an_expired_key_conflicts(
    kv: KeyValueStore, clock: KvClock
) -> None:
    # Arrange
    expired_by = await write_with_ttl(kv, clock, "k")
    await clock.pass_until(expired_by)

    # Act
    with pytest.raises(VersionConflict):
        await kv.compare_and_set("k", 1, {"v": 2})

    # Assert
    assert await kv.get("k") is None


async def test_compare_and_set_applies_its_ttl(kv: KeyValueStore, clock: KvClock) -> None:
    # Arrange
    await kv.compare_and_set("k", 0, {"v": 1}, ttl=SHORT_TTL)
    expired_by = clock() + SHORT_TTL + 0.01
    served = await kv.get("k")

    # Act
    await clock.pass_until(expired_by)

    # Assert
    assert (served, await kv.get("k")) == ({"v": 1}, None)


# --- versions and compare-and-set -------------------------------------------------------------------


async def test_versions_start_at_one_and_grow_by_one_per_write(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 0})
    first = await kv.get_versioned("k")
    await kv.set_many({"k": {"v": 1}})
    await kv.set("k", {"v": 2})

    # Act
    versioned = await kv.get_versioned("k")

    # Assert
    assert (first, versioned) == (Versioned({"v": 0}, 1), Versioned({"v": 2}, 3))


async def test_a_deleted_key_starts_again_at_version_one(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1})
    await kv.set("k", {"v": 2})
    await kv.delete("k")

    # Act
    await kv.set("k", {"v": 3})

    # Assert
    assert await kv.get_versioned("k") == Versioned({"v": 3}, 1)


async def test_compare_and_set_with_zero_creates_an_absent_key(kv: KeyValueStore) -> None:
    # Act
    version = await kv.compare_and_set("k", 0, NESTED)

    # Assert
    assert (version, await kv.get_versioned("k")) == (1, Versioned(NESTED, 1))


async def test_compare_and_set_with_zero_conflicts_when_the_key_exists(kv: KeyValueStore) -> None:
    # Arrange
    await kv.set("k", {"v": 1})

    # Act
    with pytest.raises(VersionConflict):
        await kv.compare_and_set("k", 0, {"v": 2})

    # Assert
    assert await kv.get_versioned("k") == Versioned({"v": 1}, 1)


async def test_compare_and_set_with_the_current_version_writes_and_returns_the_new_version(
    kv: KeyValueStore,
) -> None:
    # Arrange
    await kv.set("k", {"v": 1})
    await kv.set("k", {"v": 2})

    # Act
    version = await kv.compare_and_set("k", 2, {"v": 3})

    # Assert
    assert (version, await kv.get_versioned("k")) == (3, Versioned({"v": 3}, 3))


@pytest.mark.parametrize("wrong", [1, 3, 99])
async def test_compare_and_set_with_a_wrong_version_conflicts_and_keeps_the_value(
    kv: KeyValueStore, wrong: int
) -> None:
    # Arrange
    await kv.set("k", {"v": 1})
    await kv.set("k", {"v": 2})

    # Act
    with pytest.raises(VersionConflict):
        await kv.compare_and_set("k", wrong, {"v": "lost"})

    # Assert
    assert await kv.get_versioned("k") == Versioned({"v": 2}, 2)


@pytest.mark.parametrize("wrong", [1, 5])
async def test_compare_and_set_on_an_absent_key_with_a_nonzero_version_conflicts(
    kv: KeyValueStore, wrong: int
) -> None:
    # Act
    with pytest.raises(VersionConflict):
        await kv.compare_and_set("k", wrong, {"v": 1})

    # Assert
    assert await kv.get("k") is None


async def test_concurrent_cas_increments_lose_no_update(kv: KeyValueStore) -> None:
    # Arrange
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        while True:
            current = await kv.get_versioned("counter")
            expected = 0 if current is None else current.version
            count = 0 if current is None else int(current.value["n"])
            await asyncio.sleep(0)  # a yield point (no waiting) so the other tasks interleave here
            try:
                await kv.compare_and_set("counter", expected, {"n": count + 1})
            except VersionConflict:
                conflicts += 1
                continue
            return

    # Act
    await asyncio.gather(*(increment() for _ in range(100)))

    # Assert
    assert await kv.get_versioned("counter") == Versioned({"n": 100}, 100)
    assert conflicts > 0  # the tasks really raced


# --- durability -------------------------------------------------------------------------------------


async def test_data_survives_reopening_the_adapter(durable_backend: KvBackend) -> None:
    # Arrange
    async with durable_backend.open() as kv:
        await kv.set("k", {"v": 1})
        await kv.set("k", NESTED)
        await kv.set("gone", {"v": 1})
        await kv.delete("gone")

    # Act
    async with durable_backend.open() as kv:
        versioned = await kv.get_versioned("k")
        keys = await kv.list_keys("*")

    # Assert
    assert (versioned, keys) == (Versioned(NESTED, 2), ["k"])


async def test_a_ttl_keeps_counting_across_a_reopen(durable_backend: KvBackend) -> None:
    # Arrange
    async with durable_backend.open() as kv:
        expired_by = await write_with_ttl(kv, durable_backend.clock, "k", ttl=0.5)

    # Act
    async with durable_backend.open() as kv:
        served = await kv.get("k")
        await durable_backend.clock.pass_until(expired_by)
        after = await kv.get("k")

    # Assert
    assert (served, after) == ({"v": "k"}, None)
