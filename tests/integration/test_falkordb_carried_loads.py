"""A story's load carried over the store's own commit is the load the engine gives, on real FalkorDB.

Two stores write to one story on one graph, each keeping the loads it made; a third that keeps none and writes
nothing reads every load from the engine. After every commit, whichever store made it and whatever it wrote
(plain property changes, soft deletes, moves, new nodes, new edges), the writers' loads must equal the third
store's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from context_service.adapters.cypher.catalogue import Params
from context_service.adapters.cypher.graph import Rows
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.bootstrap import graph_store
from context_service.config import DEFAULT_RESPONSE_CACHE_BYTES, FalkorSettings, Settings
from context_service.domain.model import StoryGraph
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.local_servers import LocalServer
from context_service.ports.errors import OwnershipConflict
from context_service.ports.graph import NO_REVISION
from tests.conformance.graph.builders import batch, decision, given_story, milestone, soft_delete, task

TASKS = ("T-1", "T-2", "T-3")
_stories = itertools.count()


@dataclass
class Stores:
    """Two writers and a reader on one graph."""

    writers: tuple[FalkorGraph, FalkorGraph]
    reader: FalkorGraph
    graph: str
    url: str


@pytest.fixture(scope="module")
async def stores(falkordb: LocalServer) -> AsyncIterator[Stores]:
    name = f"it-carried-{next(_stories)}-{id(falkordb)}"
    async with (
        FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=5.0) as one,
        FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=5.0) as two,
        FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=5.0, kept_nodes=0) as reader,
    ):
        try:
            yield Stores((one, two), reader, name, falkordb.url)
        finally:
            await reader.drop()


def plain(kind: NodeKind, node_id: str, **fields: str | int | bool) -> Mutation:
    """A change of properties alone, as UpdateContext's UPDATE writes it."""
    return Mutation(kind, node_id, fields=fields)


def change(story_id: str, step: int, what: str, target: int, text: str) -> tuple[Mutation, ...]:
    """One write of the random sequence (`step` keeps new ids apart)."""
    node = f"{story_id}-{TASKS[target]}"
    other = f"{story_id}-{TASKS[(target + 1) % len(TASKS)]}"
    changes = {
        "task fields": lambda: (
            plain(NodeKind.TASK, node, title=text, priority=step, updated_at=f"t{step}"),
        ),
        "two tasks": lambda: (
            plain(NodeKind.TASK, node, description=text),
            plain(NodeKind.TASK, other, role=text),
        ),
        "story fields": lambda: (plain(NodeKind.STORY, story_id, title=text, current_phase="BUILD"),),
        "decision fields": lambda: (plain(NodeKind.DECISION, f"{story_id}-D-1", rationale=text),),
        "soft delete": lambda: (soft_delete(NodeKind.TASK, node),),
        "revive": lambda: (plain(NodeKind.TASK, node, status="IN_PROGRESS"),),
        "move": lambda: (plain(NodeKind.TASK, node, story_id=f"{story_id}-elsewhere"),),
        "new task": lambda: (task(f"{story_id}-N{step}", story_id, deps=(node,), title=text),),
        "new milestone": lambda: (milestone(f"{story_id}-M{step}", story_id),),
        "new lone task": lambda: (task(f"{story_id}-L{step}", story_id, title=text),),
        "new decision": lambda: (decision(f"{story_id}-D{step}", story_id),),
        "new nodes and fields": lambda: (
            milestone(f"{story_id}-M{step}", story_id),
            task(f"{story_id}-L{step}", story_id, title=text),
            plain(NodeKind.TASK, node, title=text),
        ),
        "relink": lambda: (
            task(node, story_id, deps=(f"{story_id}-{TASKS[0]}",), title=text),
        ),  # edges replaced
    }
    return changes[what]()


WHATS = (
    "task fields",
    "two tasks",
    "story fields",
    "decision fields",
    "soft delete",
    "revive",
    "move",
    "new task",
    "new milestone",
    "new lone task",
    "new decision",
    "new nodes and fields",
    "relink",
)
steps = st.lists(
    st.tuples(
        st.integers(0, 1),  # which writer
        st.sampled_from(WHATS),
        st.integers(0, len(TASKS) - 1),
        st.text(alphabet="abcé ", min_size=1, max_size=8),
        st.booleans(),  # whether the version is bumped
    ),
    min_size=1,
    max_size=8,
)


async def story_with_tasks(store: FalkorGraph, story_id: str) -> None:
    deps = {0: (), 1: (f"{story_id}-{TASKS[0]}",), 2: (f"{story_id}-{TASKS[1]}",)}
    tasks = [task(f"{story_id}-{t}", story_id, deps=deps[i]) for i, t in enumerate(TASKS)]
    await given_story(store, story_id, *tasks)
    await store.commit(
        batch(story_id, decision(f"{story_id}-D-1", story_id, influences=(f"{story_id}-T-1",)))
    )


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(sequence=steps)
async def test_a_load_after_a_commit_is_the_engines_load_whoever_wrote_and_whatever_was_written(
    stores: Stores, sequence: list[tuple[int, str, int, str, bool]]
) -> None:
    # Arrange: a story both writers have loaded (each writer keeps a load only from then on: a writer
    # whose kept load is behind the engine's must not carry it over its commit)
    story_id = f"S-{next(_stories)}"
    await story_with_tasks(stores.writers[0], story_id)
    for writer in stores.writers:
        await writer.load_story_graph(story_id)

    for step, (who, what, target, text, bump) in enumerate(sequence):
        # Act
        writer = stores.writers[who]
        seen, _ = await stores.reader.load_if_changed(story_id, NO_REVISION)
        # A write to a task moved away is refused, and changes nothing:
        with contextlib.suppress(OwnershipConflict):
            written = change(story_id, step, what, target, text)
            await writer.commit(batch(story_id, *written, bump_version=bump))

        # Assert: both writers' loads (one carried its own, the other loads anew) are the engine's
        engine = await stores.reader.load_story_graph(story_id)
        assert engine is not None
        for store in stores.writers:
            revision, load = await store.load_if_changed(story_id, seen or 0)
            assert revision == engine.story.content_revision
            assert load == (None if revision == seen else engine)
            assert await store.load_story_graph(story_id) == engine


async def loaded_by_first_writer(stores: Stores) -> tuple[str, FalkorGraph]:
    """A new story with tasks, which the first writer has loaded (and keeps); its id and that writer."""
    story_id = f"S-{next(_stories)}"
    writer = stores.writers[0]
    await story_with_tasks(writer, story_id)
    await writer.load_story_graph(story_id)
    return story_id, writer


async def engine_title(stores: Stores, task_id: str, title: str) -> None:
    """Change a task's title in the engine behind the stores' backs, leaving the story's revision alone."""
    async with Redis.from_url(stores.url) as db:
        await db.execute_command(
            "GRAPH.QUERY", stores.graph, f"MATCH (t:Task {{id: '{task_id}'}}) SET t.title = '{title}'"
        )


async def test_the_read_after_a_plain_commit_is_answered_from_the_load_carried_over_it(
    stores: Stores,
) -> None:
    # Arrange: a title changed in the engine without a new revision shows only in a load made afresh
    story_id, writer = await loaded_by_first_writer(stores)
    await writer.commit(batch(story_id, plain(NodeKind.TASK, f"{story_id}-T-2", description="new")))
    await engine_title(stores, f"{story_id}-T-1", "behind the back")

    # Act
    carried = await writer.load_story_graph(story_id)
    fresh = await stores.reader.load_story_graph(story_id)

    # Assert
    assert carried is not None
    assert fresh is not None
    assert carried.task(f"{story_id}-T-2").description == "new"  # type: ignore[union-attr]
    assert carried.task(f"{story_id}-T-1").title == f"Task {story_id}-T-1"  # type: ignore[union-attr]
    assert fresh.task(f"{story_id}-T-1").title == "behind the back"  # type: ignore[union-attr]


async def test_a_load_kept_before_another_stores_commit_is_not_carried_over_this_stores_commit(
    stores: Stores,
) -> None:
    # Arrange: the first writer keeps a load, the second changes the story after it
    story_id = f"S-{next(_stories)}"
    first, second = stores.writers
    await story_with_tasks(first, story_id)
    await first.load_story_graph(story_id)
    await second.commit(batch(story_id, plain(NodeKind.TASK, f"{story_id}-T-1", title="by the second")))

    # Act: the first writer commits a plain change without reading first
    await first.commit(batch(story_id, plain(NodeKind.TASK, f"{story_id}-T-2", title="by the first")))
    loaded = await first.load_story_graph(story_id)

    # Assert
    assert loaded == await stores.reader.load_story_graph(story_id)
    assert loaded is not None
    assert loaded.task(f"{story_id}-T-1").title == "by the second"  # type: ignore[union-attr]


async def test_a_new_node_hanging_from_the_story_alone_is_carried_with_its_properties_on_create(
    stores: Stores,
) -> None:
    # Arrange: a title changed behind the stores' backs shows only in a load made afresh
    story_id, writer = await loaded_by_first_writer(stores)
    await engine_title(stores, f"{story_id}-T-1", "behind the back")

    # Act
    await writer.commit(batch(story_id, milestone(f"{story_id}-M", story_id)))
    carried = await writer.load_story_graph(story_id)
    fresh = await stores.reader.load_story_graph(story_id)

    # Assert: the same milestones as the engine's, and the title as the writer last loaded it
    assert carried is not None
    assert fresh is not None
    assert carried.milestones == fresh.milestones
    assert [m.description for m in carried.milestones] == [f"Reached {story_id}-M"]
    assert carried.task(f"{story_id}-T-1").title == f"Task {story_id}-T-1"  # type: ignore[union-attr]


async def test_a_node_the_engine_held_outside_the_load_is_not_carried_as_new(stores: Stores) -> None:
    # Arrange: a milestone the legacy service left without an owner or an edge to the story
    story_id, writer = await loaded_by_first_writer(stores)
    async with Redis.from_url(stores.url) as db:
        await db.execute_command(
            "GRAPH.QUERY", stores.graph, f"CREATE (:Event {{id: '{story_id}-M', description: 'legacy'}})"
        )

    # Act: the story adopts it (its properties on create do not apply to a node that exists)
    await writer.commit(batch(story_id, milestone(f"{story_id}-M", story_id)))
    loaded = await writer.load_story_graph(story_id)

    # Assert
    assert loaded == await stores.reader.load_story_graph(story_id)
    assert loaded is not None
    assert [m.description for m in loaded.milestones] == ["legacy"]


async def test_a_new_tasks_dependencies_on_tasks_of_the_story_are_carried_and_other_edges_load_it_again(
    stores: Stores,
) -> None:
    # Arrange: a title changed behind the store's back shows only in a load read afresh
    story_id, writer = await loaded_by_first_writer(stores)
    first, second = f"{story_id}-T-1", f"{story_id}-T-2"
    await writer.commit(batch(story_id, task(f"{story_id}-N", story_id, deps=(first,))))
    await engine_title(stores, first, "behind the back")

    # Act: the new task's dependency, then dependencies replaced on a task that exists
    carried = await writer.load_story_graph(story_id)
    await writer.commit(batch(story_id, task(second, story_id, deps=(first,))))
    loaded = await writer.load_story_graph(story_id)

    # Assert
    assert carried is not None
    assert loaded is not None
    assert carried.task(f"{story_id}-N").dependencies == (first,)  # type: ignore[union-attr]
    assert carried.task(first).title != "behind the back"  # type: ignore[union-attr]
    assert loaded.task(first).title == "behind the back"  # type: ignore[union-attr]
    assert loaded.task(second).dependencies == (first,)  # type: ignore[union-attr]
    assert loaded == await stores.reader.load_story_graph(story_id)


@pytest.mark.parametrize(("cache_bytes", "keeps"), [(DEFAULT_RESPONSE_CACHE_BYTES, True), (0, False)])
async def test_the_configured_store_keeps_its_loads_only_while_the_response_cache_is_on(
    stores: Stores, cache_bytes: int, keeps: bool
) -> None:
    # Arrange: the store the service builds, which has loaded the story
    story_id, _ = await loaded_by_first_writer(stores)
    settings = Settings(
        GRAPH_BACKEND="falkordb",
        falkordb=FalkorSettings(FALKORDB_URL=stores.url, FALKORDB_GRAPH=stores.graph),
        RESPONSE_CACHE_MAX_BYTES=cache_bytes,
    )
    async with graph_store(settings) as store:
        await store.load_story_graph(story_id)
        await engine_title(stores, f"{story_id}-T-1", "behind the back")

        # Act
        again = await store.load_story_graph(story_id)

    # Assert: a kept load does not show the change made behind its back; a fresh one does
    assert again is not None
    title = again.task(f"{story_id}-T-1").title  # type: ignore[union-attr]
    assert title == (f"Task {story_id}-T-1" if keeps else "behind the back")


class CommitsWhileReading(FalkorGraph):
    """A store whose next story load lets its own commits land around the engine's answer: `before` ones
    once the load has been asked for (with the kept load's revision), `after` ones once the engine has
    answered. The interleaving of a busy story's writers, made deterministic."""

    before: tuple[WriteBatch, ...] = ()
    after: tuple[WriteBatch, ...] = ()

    async def _read(self, text: str, params: Params, operation: str) -> Rows:
        before, after = (self.before, self.after) if operation == "load_story" else ((), ())
        self.before = self.after = ()
        for written in before:
            await self.commit(written)
        rows = await super()._read(text, params, operation)
        for written in after:
            await self.commit(written)
        return rows


@pytest.mark.parametrize(("before", "after"), [(1, 0), (1, 1), (2, 3)])
async def test_a_load_the_engine_sends_while_commits_here_carry_the_kept_one_is_not_read_again(
    stores: Stores, before: int, after: int
) -> None:
    # Arrange: a writer that keeps a load, and a title changed behind its back (only a fresh load shows it)
    story_id = f"S-{next(_stories)}"
    await story_with_tasks(stores.writers[0], story_id)
    async with CommitsWhileReading(url=stores.url, graph=stores.graph, timeout_seconds=5.0) as writer:
        await writer.load_story_graph(story_id)
        await engine_title(stores, f"{story_id}-T-1", "behind the back")
        writes = [batch(story_id, milestone(f"{story_id}-M{n}", story_id)) for n in range(before + after)]
        writer.before, writer.after = tuple(writes[:before]), tuple(writes[before:])

        # Act: the engine sends the whole load (its revision is past the one asked with)
        revision, loaded = await writer.load_if_changed(story_id, NO_REVISION)
        again = await writer.load_story_graph(story_id)

    # Assert: the load carried over every commit, newer than the engine's answer when commits came after it
    engine = await stores.reader.load_story_graph(story_id)
    assert engine is not None
    assert loaded is not None
    assert revision == engine.story.content_revision == loaded.story.content_revision
    assert loaded.milestones == engine.milestones
    assert len(loaded.milestones) == before + after
    assert loaded.task(f"{story_id}-T-1").title == f"Task {story_id}-T-1"  # type: ignore[union-attr]
    assert again == loaded


async def test_loads_racing_commits_of_one_story_each_show_exactly_the_commits_up_to_their_revision(
    stores: Stores,
) -> None:
    # Arrange: a story every load of which has been kept
    story_id, writer = await loaded_by_first_writer(stores)
    base, _ = await writer.load_if_changed(story_id, NO_REVISION)
    assert base is not None

    async def load() -> tuple[int | None, StoryGraph | None]:
        return await writer.load_if_changed(story_id, NO_REVISION)

    # Act: 30 new milestones, each its own commit, and 30 loads, all at once
    writes = [writer.commit(batch(story_id, milestone(f"{story_id}-M{n}", story_id))) for n in range(30)]
    results = await asyncio.gather(*writes, *(load() for _ in range(30)))

    # Assert: one new revision per commit; a load at a revision holds the milestones of the commits before it
    for revision, loaded in results[30:]:
        assert loaded is not None
        assert revision == loaded.story.content_revision
        assert len(loaded.milestones) == revision - base
    final = await writer.load_story_graph(story_id)
    assert final == await stores.reader.load_story_graph(story_id)
    assert final is not None
    assert len(final.milestones) == 30


async def test_a_load_asked_while_a_commit_of_the_story_runs_here_waits_for_it_and_is_carried_over_it(
    stores: Stores,
) -> None:
    # Arrange: a writer that keeps a load, a title changed behind its back, and its commit under way
    story_id, writer = await loaded_by_first_writer(stores)
    await engine_title(stores, f"{story_id}-T-1", "behind the back")
    commit = asyncio.create_task(writer.commit(batch(story_id, milestone(f"{story_id}-M", story_id))))
    await asyncio.sleep(0)  # the commit holds the story's lock and waits for the engine

    # Act
    revision, loaded = await writer.load_if_changed(story_id, NO_REVISION)
    await commit

    # Assert: the load shows the commit, and is the kept one carried over it (no title from behind the back)
    engine = await stores.reader.load_story_graph(story_id)
    assert engine is not None
    assert loaded is not None
    assert revision == engine.story.content_revision
    assert [m.description for m in loaded.milestones] == [f"Reached {story_id}-M"]
    assert loaded.task(f"{story_id}-T-1").title == f"Task {story_id}-T-1"  # type: ignore[union-attr]
