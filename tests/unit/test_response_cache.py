"""The in-process response cache: fresh only for the same revision and read-models, bounded in bytes (LRU)."""

from __future__ import annotations

from context_service.adapters.cache.responses import ENTRY_OVERHEAD, LruResponseCache
from context_service.domain.model import PlanningReadModel
from context_service.observability.metrics import REGISTRY

PLANNING = PlanningReadModel(story_summary="so far")


def sample(name: str, labels: dict[str, str]) -> float:
    """A metric's current value (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_answer_is_fresh_for_the_revision_and_read_models_it_was_built_from_only() -> None:
    cache = LruResponseCache(10_000)
    cache.store("k", 3, PLANNING, b"answer", 6)

    assert cache.fresh("k", 3, PlanningReadModel(story_summary="so far")) == b"answer"
    assert cache.fresh("k", 4, PLANNING) is None  # the story changed
    assert cache.fresh("k", 3, PlanningReadModel(story_summary="later")) is None  # a read-model changed
    assert cache.fresh("other", 3, PLANNING) is None


def test_hits_and_misses_are_counted_by_cache_name() -> None:
    cache = LruResponseCache(10_000, name="unit-counts")
    labels = {"cache": "unit-counts"}
    cache.store("k", 1, PLANNING, b"a", 1)

    cache.fresh("k", 1, PLANNING)
    cache.fresh("k", 2, PLANNING)

    assert sample("context_cache_requests_total", {**labels, "result": "hit"}) == 1
    assert sample("context_cache_requests_total", {**labels, "result": "miss"}) == 1


def test_the_least_recently_used_answers_go_first_when_the_bytes_run_out() -> None:
    cost = 1000 + ENTRY_OVERHEAD
    cache = LruResponseCache(3 * cost, name="unit-lru")
    for key in ("a", "b", "c"):
        cache.store(key, 1, PLANNING, key, 1000)
    cache.fresh("a", 1, PLANNING)  # a is now the most recently used

    cache.store("d", 1, PLANNING, "d", 1000)

    assert [k for k in "abcd" if cache.fresh(k, 1, PLANNING) is not None] == ["a", "c", "d"]
    assert cache.size == 3 * cost
    assert sample("context_response_cache_evictions_total", {"cache": "unit-lru"}) == 1
    assert sample("context_response_cache_bytes", {"cache": "unit-lru"}) == 3 * cost


def test_storing_under_a_key_again_replaces_the_answer_and_its_bytes() -> None:
    cache = LruResponseCache(100_000)
    cache.store("k", 1, PLANNING, "old", 5000)

    cache.store("k", 2, PLANNING, "new", 10)

    assert (cache.fresh("k", 2, PLANNING), cache.size) == ("new", 10 + ENTRY_OVERHEAD)


def test_an_answer_bigger_than_the_whole_cache_is_not_kept() -> None:
    cache = LruResponseCache(1000)
    cache.store("small", 1, PLANNING, "s", 10)

    cache.store("huge", 1, PLANNING, "h", 5000)

    assert cache.fresh("huge", 1, PLANNING) is None
    assert cache.fresh("small", 1, PLANNING) == "s"


def test_a_cache_of_zero_bytes_is_off() -> None:
    cache = LruResponseCache(0)
    cache.store("k", 1, PLANNING, "a", 1)

    assert not cache.enabled
    assert cache.fresh("k", 1, PLANNING) is None
