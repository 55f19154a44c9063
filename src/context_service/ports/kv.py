"""The key-value context store port (03 §3.4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

JsonObject = Mapping[str, Any]


def story_scope(story_id: str) -> str:
    """The key segment that keeps one story's records together (a hash tag: one slot on a sharded store)."""
    return "{" + story_id + "}"


def session_scope(session_id: str) -> str:
    """The key segment (hash tag) every key of one session context shares."""
    return "{sess:" + session_id + "}"


@dataclass(frozen=True)
class Versioned:
    """A stored value with its version (1 on first write, +1 on every write)."""

    value: JsonObject
    version: int


class KeyValueStore(Protocol):
    """JSON mappings under string keys, with TTL, glob listing, batches and compare-and-set."""

    async def get(self, key: str) -> JsonObject | None:
        """The value, or None when absent or expired."""
        ...

    async def get_versioned(self, key: str) -> Versioned | None:
        """The value with its version, or None when absent or expired."""
        ...

    async def set(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write (overwrite) a value; `ttl` in seconds."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a key; an absent key is not an error."""
        ...

    async def list_keys(self, pattern: str) -> list[str]:
        """Live keys matching a glob pattern, sorted."""
        ...

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonObject]:
        """The live values of those keys that exist."""
        ...

    async def set_many(self, items: Mapping[str, JsonObject], ttl: float | None = None) -> None:
        """Write several values."""
        ...

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys."""
        ...

    async def compare_and_set(
        self, key: str, expected_version: int, value: JsonObject, ttl: float | None = None
    ) -> int:
        """Write only if the stored version equals `expected_version` (0 = absent); return the new version.

        Raises VersionConflict otherwise.
        """
        ...
