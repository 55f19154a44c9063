"""Read-model archive conformance: the in-memory store and Valkey export and replace a story's keys alike."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.domain.model import Milestone
from context_service.domain.snapshot import ReadModelEntry, StreamEntry
from tests.conformance.backends import VALKEYS, valkey_client, valkey_target

Opener = Callable[[], AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["memory", *VALKEYS])
def open_store(request: pytest.FixtureRequest) -> Opener:
    """Opens a planning store of the parametrised backend (the session's Valkey server, then its cluster)."""
    if request.param == "memory":

        @asynccontextmanager
        async def memory() -> AsyncIterator[Any]:
            yield InMemoryPlanningStore()

        return memory
    server = valkey_target(request.param, request)

    @asynccontextmanager
    async def valkey() -> AsyncIterator[Any]:
        async with valkey_client(server) as client:
            yield ValkeyPlanningStore(client=client)

    return valkey


@pytest.fixture
def story() -> str:
    """A story id of this test alone."""
    return f"S-{uuid.uuid4().hex[:12]}"


async def seeded(store: Any, story: str) -> None:
    """Spec, draft, summaries, two stream events and a handoff bundle with a TTL."""
    await store.merge_spec(story, {"story_id": story, "title": "Checkout — 東京"})
    await store.put_draft(story, {"plan_id": "P-1", "subtasks": [{"task_id": "T-1"}]})
    await store.put_summary(story, "Half done.")
    await store.put_summary(story, "Tests green.", role="qa")
    await store.append_planning_event(
        story, Milestone("plan_approved", "Council said yes", 1_790_000_000_000, "po")
    )
    await store.append_planning_event(story, Milestone("replanned", "Scope cut", 1_790_000_100_000, "po"))
    await store.save_handoff(story, 1_790_000_200_000, {"packs": {}}, ttl_seconds=600)


def suffixes(entries: tuple[ReadModelEntry, ...], story: str) -> list[str]:
    """The keys without the story's prefix."""
    return [e.key.removeprefix(f"swe:case:{story}:") for e in entries]


async def test_export_lists_every_key_of_the_story_sorted(open_store: Opener, story: str) -> None:
    # Arrange
    async with open_store() as store:
        await seeded(store, story)
        await seeded(store, f"{story}-other")

        # Act
        entries = await store.export_read_models(story)

    # Assert
    assert suffixes(entries, story) == [
        "handoff:1790000200000",
        "handoff:latest",
        "planning:draft",
        "planning:stream",
        "role:qa:summaries:last",
        "spec",
        "summaries:last",
    ]


async def test_a_ttl_travels_as_an_absolute_expiry(open_store: Opener, story: str) -> None:
    # Arrange
    async with open_store() as store:
        await seeded(store, story)

        # Act
        entries = {e.key: e for e in await store.export_read_models(story)}

    # Assert
    now_ms = time.time() * 1000
    handoff = entries[f"swe:case:{story}:handoff:latest"]
    assert now_ms + 500_000 < handoff.expire_at_ms <= now_ms + 600_000
    assert entries[f"swe:case:{story}:spec"].expire_at_ms == 0


async def test_exporting_twice_gives_the_same_entries(open_store: Opener, story: str) -> None:
    # Arrange
    async with open_store() as store:
        await seeded(store, story)

        # Act
        first, second = await store.export_read_models(story), await store.export_read_models(story)

    # Assert
    assert first == second


async def test_replace_swaps_the_keys_and_the_reads_follow(open_store: Opener, story: str) -> None:
    # Arrange
    async with open_store() as source, open_store() as target:
        await seeded(source, story)
        entries = await source.export_read_models(story)
        await target.put_summary(story, "stale", role="dev")

        # Act
        await target.replace_read_models(story, entries)

        # Assert
        assert await target.export_read_models(story) == entries
        assert await target.load(story, ["qa", "dev"]) == await source.load(story, ["qa", "dev"])


async def test_an_expired_entry_is_not_written(open_store: Opener, story: str) -> None:
    # Arrange
    gone = ReadModelEntry(f"swe:case:{story}:handoff:old", "string", value="{}", expire_at_ms=1_000)
    kept = ReadModelEntry(
        f"swe:case:{story}:planning:stream", "stream", entries=(StreamEntry("5-0", (("event", "x"),)),)
    )

    # Act
    async with open_store() as store:
        await store.replace_read_models(story, (gone, kept))
        entries = await store.export_read_models(story)

    # Assert
    assert entries == (kept,)


async def test_replace_leaves_other_stories_alone(open_store: Opener, story: str) -> None:
    # Arrange
    other = f"{story}-other"
    async with open_store() as store:
        await seeded(store, other)
        before = await store.export_read_models(other)

        # Act
        await store.replace_read_models(story, ())

        # Assert
        assert await store.export_read_models(other) == before
