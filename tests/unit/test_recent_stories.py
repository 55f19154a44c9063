"""Kept story loads: reused only when the store confirms the story is at their revision, and bounded."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from context_service.application.recent_stories import RecentStories
from context_service.domain.model import Story, StoryGraph, Task
from context_service.ports.graph import NO_REVISION


def story_graph(story_id: str, revision: int, tasks: int = 0, *, cacheable: bool = True) -> StoryGraph:
    """A story at `revision` with `tasks` tasks."""
    story = Story(story_id=story_id, title=f"Story {story_id} at {revision}", content_revision=revision)
    listed = tuple(Task(task_id=f"{story_id}-T{i}", story_id=story_id, title=f"t{i}") for i in range(tasks))
    return StoryGraph(story=story, tasks=listed, cacheable=cacheable)


class Store:
    """StoryLoads over fixed graphs; records each `seen` asked and each whole load sent."""

    def __init__(self, *graphs: StoryGraph) -> None:
        self.graphs = {g.story.story_id: g for g in graphs}
        self.asked: list[int] = []
        self.sent = 0

    async def get_story(self, story_id: str) -> Story | None:
        graph = self.graphs.get(story_id)
        return None if graph is None else graph.story

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        return (await self.load_if_changed(story_id, NO_REVISION))[1]

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        self.asked.append(seen)
        graph = self.graphs.get(story_id)
        if graph is None:
            return None, None
        if graph.story.content_revision == seen:
            return seen, None
        self.sent += 1
        return graph.story.content_revision, graph

    def write(self, story_id: str) -> StoryGraph:
        """The story moved on one revision (its title changed)."""
        old = self.graphs[story_id]
        revision = old.story.content_revision + 1
        new = replace(old, story=replace(old.story, title=f"moved to {revision}", content_revision=revision))
        self.graphs[story_id] = new
        return new


async def test_a_story_still_at_the_kept_revision_is_answered_from_the_kept_load() -> None:
    # Arrange
    store = Store(story_graph("S-1", 4, tasks=3))
    recent = RecentStories(store)
    first = await recent.load_story_graph("S-1")

    # Act
    again = await recent.load_story_graph("S-1")

    # Assert: the second call asked with the kept revision and got no load back
    assert again is first
    assert (store.asked, store.sent) == ([NO_REVISION, 4], 1)


async def test_a_story_that_moved_is_loaded_anew_and_the_new_load_kept() -> None:
    # Arrange
    store = Store(story_graph("S-1", 4))
    recent = RecentStories(store)
    await recent.load_story_graph("S-1")
    moved = store.write("S-1")

    # Act
    found = [await recent.load_story_graph("S-1"), await recent.load_story_graph("S-1")]

    # Assert
    assert found == [moved, moved]
    assert (store.asked, store.sent) == ([NO_REVISION, 4, 5], 2)


async def test_a_caller_holding_the_current_revision_gets_no_load() -> None:
    # Arrange
    store = Store(story_graph("S-1", 4))
    recent = RecentStories(store)
    await recent.load_story_graph("S-1")

    # Act
    found = await recent.load_if_changed("S-1", 4)

    # Assert
    assert found == (4, None)


async def test_without_a_kept_load_the_callers_revision_is_asked() -> None:
    # Arrange: nothing kept (the load shows a node no story owns)
    store = Store(story_graph("S-1", 4, cacheable=False))
    recent = RecentStories(store)
    await recent.load_story_graph("S-1")

    # Act
    found = await recent.load_if_changed("S-1", 4)

    # Assert: asked with the caller's revision, as the store itself would be
    assert found == (4, None)
    assert store.asked == [NO_REVISION, 4]


async def test_a_load_showing_a_node_no_story_owns_is_never_kept() -> None:
    # Arrange
    store = Store(story_graph("S-1", 4, cacheable=False))
    recent = RecentStories(store)

    # Act
    await recent.load_story_graph("S-1")
    await recent.load_story_graph("S-1")

    # Assert
    assert store.sent == 2


async def test_a_story_gone_from_the_store_is_gone_from_the_kept_loads() -> None:
    # Arrange
    store = Store(story_graph("S-1", 4))
    recent = RecentStories(store)
    await recent.load_story_graph("S-1")
    del store.graphs["S-1"]

    # Act
    found = await recent.load_story_graph("S-1")
    store.graphs["S-1"] = story_graph("S-1", 4)
    await recent.load_story_graph("S-1")

    # Assert: not served, and not kept: the story that came back is loaded from the store
    assert found is None
    assert store.asked[-1] == NO_REVISION


async def test_the_least_recently_used_loads_go_first_when_the_entities_run_out() -> None:
    # Arrange: room for two stories of 4 entities (the story and three tasks)
    store = Store(*(story_graph(f"S-{n}", 1, tasks=3) for n in range(3)))
    recent = RecentStories(store, max_entities=8)
    await recent.load_story_graph("S-0")
    await recent.load_story_graph("S-1")
    await recent.load_story_graph("S-0")  # S-0 used last

    # Act
    await recent.load_story_graph("S-2")
    store.asked.clear()
    for story_id in ("S-0", "S-2", "S-1"):  # the kept ones first: loading S-1 again makes room anew
        await recent.load_story_graph(story_id)

    # Assert: S-1 went; S-0 and S-2 are still kept
    assert store.asked == [1, 1, NO_REVISION]


class SlowStore(Store):
    """A store whose answers take a turn of the event loop, so calls overlap."""

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        await asyncio.sleep(0.01)
        return await super().load_if_changed(story_id, seen)


async def test_loads_of_one_story_at_once_share_round_trips_sent_after_they_arrived() -> None:
    # Arrange
    store = SlowStore(story_graph("S-1", 4, tasks=3))
    recent = RecentStories(store)

    # Act: eight callers at once
    found = await asyncio.gather(*(recent.load_story_graph("S-1") for _ in range(8)))

    # Assert: the first call's own round trip, then one for the seven that came while it ran
    assert all(graph == store.graphs["S-1"] for graph in found)
    assert len(store.asked) == 2


class GatedStore(Store):
    """A store whose reads of S-1 wait until the gate opens."""

    def __init__(self, *graphs: StoryGraph) -> None:
        super().__init__(*graphs)
        self.gate = asyncio.Event()

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        if story_id == "S-1":
            await self.gate.wait()
        return await super().load_if_changed(story_id, seen)


async def test_a_kept_load_dropped_while_its_confirmation_ran_is_still_served() -> None:
    # Arrange: S-1 kept; its next read is under way when S-2's load pushes it out
    store = GatedStore(story_graph("S-1", 4, tasks=3), story_graph("S-2", 1, tasks=3))
    recent = RecentStories(store, max_entities=4)
    store.gate.set()
    kept = await recent.load_story_graph("S-1")
    store.gate.clear()
    confirming = asyncio.ensure_future(recent.load_story_graph("S-1"))
    await asyncio.sleep(0)

    # Act
    await recent.load_story_graph("S-2")
    store.gate.set()
    found = await confirming

    # Assert: the confirmed load is served; S-1 is no longer kept
    assert found is kept
    store.asked.clear()
    await recent.load_story_graph("S-1")
    assert store.asked == [NO_REVISION]


async def test_with_no_room_nothing_is_kept_but_loads_waiting_together_are_shared() -> None:
    # Arrange: in front of a store that keeps its loads itself; one read of S-1 under way
    store = GatedStore(story_graph("S-1", 4, tasks=3))
    recent = RecentStories(store, max_entities=0)
    under_way = asyncio.ensure_future(recent.load_story_graph("S-1"))
    await asyncio.sleep(0)

    # Act: two more reads arrive meanwhile; then, once all are answered, one more
    waiting = asyncio.gather(recent.load_story_graph("S-1"), recent.load_story_graph("S-1"))
    await asyncio.sleep(0)
    store.gate.set()
    await under_way
    second, third = await waiting
    later = await recent.load_story_graph("S-1")

    # Assert: the two waiting shared one load, and the later read asked the store for the whole story again
    assert second is third is later
    assert (store.asked, store.sent) == ([NO_REVISION] * 3, 3)
