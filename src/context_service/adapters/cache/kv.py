"""KeyValueStore as a bounded per-process cache: cachetools TLRU (per-key TTL, LRU eviction)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cachetools import TLRUCache

from context_service.adapters.kv_glob import matching
from context_service.ports.errors import VersionConflict
from context_service.ports.kv import JsonObject, Versioned


@dataclass(frozen=True)
class _Entry:
    payload: str  # JSON text, so no caller can mutate what is stored
    version: int
    ttl: float | None


def _time_to_use(_key: str, entry: _Entry, now: float) -> float:
    return math.inf if entry.ttl is None else now + entry.ttl


class CachetoolsKeyValueStore:
    """At most `max_entries` live keys; an evicted or expired key is absent (its version restarts at 1)."""

    def __init__(self, *, max_entries: int = 10_000, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._cache: TLRUCache[str, _Entry] = TLRUCache(max_entries, _time_to_use, timer=monotonic)

    async def get(self, key: str) -> JsonObject | None:
        """The value, or None when absent or expired."""
        entry = self._cache.get(key)
        return None if entry is None else json.loads(entry.payload)

    async def get_versioned(self, key: str) -> Versioned | None:
        """The value with its version, or None when absent or expired."""
        entry = self._cache.get(key)
        return None if entry is None else Versioned(json.loads(entry.payload), entry.version)

    async def set(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write (overwrite) a value; the TTL counts from now."""
        self._write(key, value, ttl)

    def _write(self, key: str, value: JsonObject, ttl: float | None) -> int:
        entry = self._cache.get(key)
        version = 1 if entry is None else entry.version + 1
        self._cache[key] = _Entry(json.dumps(dict(value)), version, ttl)  # an expired TTL removes the key
        return version

    async def delete(self, key: str) -> None:
        """Remove a key; an absent key is not an error."""
        self._cache.pop(key, None)

    async def list_keys(self, pattern: str) -> list[str]:
        """Live keys matching a glob, sorted."""
        return matching(self._cache, pattern)  # the cache iterates over live keys only

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonObject]:
        """The live values of those keys that exist."""
        found = ((key, self._cache.get(key)) for key in keys)
        return {key: json.loads(entry.payload) for key, entry in found if entry is not None}

    async def set_many(self, items: Mapping[str, JsonObject], ttl: float | None = None) -> None:
        """Write several values."""
        for key, value in items.items():
            self._write(key, value, ttl)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys."""
        for key in keys:
            self._cache.pop(key, None)

    async def compare_and_set(
        self, key: str, expected_version: int, value: JsonObject, ttl: float | None = None
    ) -> int:
        """Write only if the stored version equals `expected_version` (0 = absent); the new version."""
        entry = self._cache.get(key)
        current = 0 if entry is None else entry.version
        if current != expected_version:
            raise VersionConflict(
                f"version is {current}, expected {expected_version}", backend="cachetools", operation="cas"
            )
        return self._write(key, value, ttl)
