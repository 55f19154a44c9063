"""The response cache in process memory: least recently used answers evicted first, bounded in bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from context_service.domain.model import PlanningReadModel
from context_service.observability.metrics import RESPONSE_CACHE_BYTES, RESPONSE_CACHE_EVICTIONS, record_cache

# What an entry costs beyond its answer's bytes: the key, the read-models it holds, the bookkeeping.
ENTRY_OVERHEAD = 512


@dataclass(frozen=True)
class _Entry:
    revision: int
    planning: PlanningReadModel
    answer: object
    size: int


class LruResponseCache:
    """At most `max_bytes` of answers (0: caching off); hits, misses, evictions and bytes are metrics."""

    def __init__(self, max_bytes: int, *, name: str = "responses") -> None:
        self._max = max_bytes
        self._name = name
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        """Whether anything can be cached at all."""
        return self._max > 0

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._bytes

    def fresh(self, key: Hashable, revision: int, planning: PlanningReadModel) -> object | None:
        """The answer under `key` if built from this revision and these read-models (a hit), else None."""
        entry = self._entries.get(key)
        hit = entry is not None and entry.revision == revision and entry.planning == planning
        record_cache(self._name, hit=hit)
        if entry is None or not hit:
            return None
        self._entries.move_to_end(key)
        return entry.answer

    def store(
        self, key: Hashable, revision: int, planning: PlanningReadModel, answer: object, size: int
    ) -> None:
        """Keep the answer, evicting the least recently used ones beyond the bound; too big: not kept."""
        cost = size + ENTRY_OVERHEAD
        self._drop(key)
        if cost > self._max:
            return
        self._entries[key] = _Entry(revision, planning, answer, cost)
        self._bytes += cost
        while self._bytes > self._max:
            self._drop(next(iter(self._entries)))
            RESPONSE_CACHE_EVICTIONS.labels(self._name).inc()
        RESPONSE_CACHE_BYTES.labels(self._name).set(self._bytes)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
