"""In-memory KeyValueStore: a thin dict wrapper with TTL and versions (the default KV backend)."""

from __future__ import annotations

import copy
import fnmatch
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from context_service.ports.errors import VersionConflict
from context_service.ports.kv import JsonObject, Versioned


@dataclass
class _Entry:
    payload: str
    version: int
    expires_at: float | None


class InMemoryKeyValueStore:
    """Keys in a dict; values stored as JSON text so no caller can mutate what is stored."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, _Entry] = {}
        self._now = monotonic

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._now():
            del self._data[key]
            return None
        return entry

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._now() + ttl

    async def get(self, key: str) -> JsonObject | None:
        """The value, or None."""
        entry = self._live(key)
        return None if entry is None else json.loads(entry.payload)

    async def get_versioned(self, key: str) -> Versioned | None:
        """The value with its version, or None."""
        entry = self._live(key)
        return None if entry is None else Versioned(json.loads(entry.payload), entry.version)

    async def set(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write (overwrite) a value."""
        entry = self._live(key)
        version = 1 if entry is None else entry.version + 1
        self._data[key] = _Entry(json.dumps(copy.deepcopy(dict(value))), version, self._expiry(ttl))

    async def delete(self, key: str) -> None:
        """Remove a key if present."""
        self._data.pop(key, None)

    async def list_keys(self, pattern: str) -> list[str]:
        """Live keys matching a glob, sorted."""
        return sorted(k for k in list(self._data) if fnmatch.fnmatchcase(k, pattern) and self._live(k))

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonObject]:
        """Values of the keys that exist."""
        found: dict[str, JsonObject] = {}
        for key in keys:
            value = await self.get(key)
            if value is not None:
                found[key] = value
        return found

    async def set_many(self, items: Mapping[str, JsonObject], ttl: float | None = None) -> None:
        """Write several values."""
        for key, value in items.items():
            await self.set(key, value, ttl)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys."""
        for key in keys:
            self._data.pop(key, None)

    async def compare_and_set(
        self, key: str, expected_version: int, value: JsonObject, ttl: float | None = None
    ) -> int:
        """Write only if the stored version matches (0 = absent)."""
        entry = self._live(key)
        current = 0 if entry is None else entry.version
        if current != expected_version:
            raise VersionConflict(
                f"version is {current}, expected {expected_version}", backend="memory", operation="cas"
            )
        await self.set(key, value, ttl)
        return current + 1
