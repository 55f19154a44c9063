"""Adopting a legacy graph on a real engine: dry run, idempotence, resume after a crash, prune."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from context_service.adapters.cypher.graph import CypherGraph
from context_service.adapters.cypher.legacy import CypherLegacyGraph
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.sqlite.kv import SqliteKeyValueStore
from context_service.application.adopt_legacy import CHECKPOINT_KEY, AdoptLegacy, Progress
from context_service.application.commit_step import CommitStep
from context_service.domain.errors import FailedPrecondition
from context_service.domain.legacy import LegacyStory
from context_service.domain.mutations import CommitResult, Mutation, NodeKind, WriteBatch
from tests.support.adoption import LEGACY_BACKENDS, adoption, labelled, legacy_store, pruning, snapshot
from tests.support.fakes import FixedClock
from tests.support.legacy_fixture import fixture_graph
from tests.support.legacy_graph import LegacyGraph

pytestmark = pytest.mark.integration
STORIES = ["C-200", "L-100", "L-101"]
LEGACY_ONLY = ("ProjectCase", "Case", "Subtask", "Plan")


class Crash(Exception):
    """The process dying between two batches."""


@pytest.fixture(params=LEGACY_BACKENDS)
async def legacy(request: pytest.FixtureRequest) -> AsyncIterator[CypherGraph]:
    """A graph of its own holding the legacy fixture database."""
    async with legacy_store(request.param, request) as graph:
        await fixture_graph().write(graph)
        yield graph


async def test_a_dry_run_reports_every_story_and_writes_nothing(
    legacy: CypherGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await snapshot(legacy)
    kv = InMemoryKeyValueStore()
    indexed: list[str] = []
    create_index = legacy.create_index

    async def recorded(label: str, prop: str, operation: str) -> None:
        indexed.append(f"{label}.{prop}")
        await create_index(label, prop, operation)

    monkeypatch.setattr(legacy, "create_index", recorded)

    summary = await adoption(legacy, kv).execute(dry_run=True, batch_size=2)

    assert (summary.report.stories, summary.adopted, summary.batches) == (3, 0, 2)
    assert await snapshot(legacy) == before
    assert await kv.list_keys("*") == []
    assert indexed == []  # not even the legacy key indexes


async def test_a_second_run_changes_nothing(legacy: CypherGraph) -> None:
    kv = InMemoryKeyValueStore()
    first = await adoption(legacy, kv).execute(dry_run=False, batch_size=2)
    adopted = await snapshot(legacy)

    second = await adoption(legacy, kv, FixedClock(start_ms=1_800_000_000_000)).execute(
        dry_run=False, batch_size=2
    )

    assert (first.adopted, first.unchanged, first.failed) == (3, 0, [])
    assert (second.adopted, second.unchanged, second.failed) == (0, 3, [])
    assert await snapshot(legacy) == adopted


async def test_every_legacy_story_is_served_from_the_model_after_a_run(legacy: CypherGraph) -> None:
    await adoption(legacy, InMemoryKeyValueStore()).execute(dry_run=False, batch_size=2)

    graphs = {key: await legacy.load_story_graph(key) for key in STORIES}

    counts = {
        key: (len(g.tasks), len(g.decisions), len(g.milestones), len(g.transitions), len(g.plans))
        for key, g in graphs.items()
        if g is not None
    }
    assert counts == {"C-200": (2, 2, 1, 0, 1), "L-100": (3, 3, 3, 2, 1), "L-101": (0, 0, 0, 0, 0)}


async def test_a_run_stopped_between_batches_resumes_after_the_last_batch_it_committed(
    legacy: CypherGraph, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def crash_after_first_batch(progress: Progress) -> None:
        if progress.done == 1:
            raise Crash

    async with SqliteKeyValueStore(path=tmp_path / "kv.sqlite3", timeout_seconds=5) as kv:
        with pytest.raises(Crash):
            await adoption(legacy, kv).execute(dry_run=False, batch_size=1, progress=crash_after_first_batch)
    async with SqliteKeyValueStore(path=tmp_path / "kv.sqlite3", timeout_seconds=5) as kv:
        resumed = await adoption(legacy, kv).execute(dry_run=False, batch_size=1)
        checkpoint = await kv.get(CHECKPOINT_KEY)

    assert (resumed.resumed_after, resumed.skipped, resumed.adopted, resumed.unchanged) == ("C-200", 1, 2, 0)
    assert checkpoint is not None
    assert checkpoint["status"] == "complete"
    backend = "neo4j" if "neo4j" in request.node.callspec.id else "falkordb"
    async with legacy_store(backend, request) as reference:
        await fixture_graph().write(reference)
        await adoption(reference, InMemoryKeyValueStore()).execute(dry_run=False, batch_size=10)
        assert await snapshot(legacy) == await snapshot(reference)


async def test_prune_is_refused_until_a_run_completed(legacy: CypherGraph) -> None:
    kv = InMemoryKeyValueStore()

    with pytest.raises(FailedPrecondition, match="complete adoption run"):
        await pruning(legacy, kv).execute()

    assert await labelled(legacy, "ProjectCase") == 1


async def test_prune_removes_the_legacy_layout_and_keeps_the_adopted_stories(legacy: CypherGraph) -> None:
    kv = InMemoryKeyValueStore()
    await adoption(legacy, kv).execute(dry_run=False, batch_size=2)
    served = {key: await legacy.load_story_graph(key) for key in STORIES}

    removed = await pruning(legacy, kv).execute()

    assert {key: await legacy.load_story_graph(key) for key in STORIES} == served
    assert [await labelled(legacy, label) for label in LEGACY_ONLY] == [0, 0, 0, 0]
    assert await labelled(legacy, "Story", "n.id IS NULL") == 0
    assert await labelled(legacy, "Decision", "n.kind IS NOT NULL OR n.story_id IS NULL") == 0
    assert (removed["ProjectCase"], removed["Subtask"], removed["Decision"]) == (1, 3, 1)
    again = await adoption(legacy, kv).execute(dry_run=True, batch_size=2)
    assert again.report.stories == 0


async def test_a_story_the_model_refuses_is_listed_and_keeps_the_legacy_nodes(legacy: CypherGraph) -> None:
    kv = InMemoryKeyValueStore()
    other = Mutation(NodeKind.STORY, "S-OTHER", fields={"title": "Native story"})
    claim = Mutation(NodeKind.TASK, "L-100-T1", fields={"title": "Same id", "story_id": "S-OTHER"})
    await legacy.commit(WriteBatch("S-OTHER", (other, claim)))

    summary = await adoption(legacy, kv).execute(dry_run=False, batch_size=2)

    assert (summary.adopted, summary.complete) == (2, False)
    assert summary.failed == ["story 'L-100': task 'L-100-T1' already belongs to story 'S-OTHER'"]
    with pytest.raises(FailedPrecondition, match="the last run is incomplete"):
        await pruning(legacy, kv).execute()
    assert await labelled(legacy, "ProjectCase") == 1


class ReadAheadFirst:
    """The legacy reader, with every commit held until the second batch has been read: the read-ahead of a
    batch then always sees the graph from before the previous batch's commits."""

    def __init__(self, graph: CypherGraph, second: list[str]) -> None:
        self._reader = CypherLegacyGraph(graph=graph)
        self._graph = graph
        self._second = second
        self._read = asyncio.Event()
        self.prepare, self.story_keys = self._reader.prepare, self._reader.story_keys
        self.planning, self.orphans = self._reader.planning, self._reader.orphans

    async def read_stories(self, keys: Sequence[str]) -> list[LegacyStory]:
        stories = await self._reader.read_stories(keys)
        if list(keys) == self._second:
            self._read.set()
        return stories

    async def commit(self, batch: WriteBatch) -> CommitResult:
        if batch.story_id:
            await self._read.wait()
        return await self._graph.commit(batch)


async def test_a_decision_two_batches_reach_goes_to_the_story_of_the_first_batch(
    request: pytest.FixtureRequest,
) -> None:
    # The second batch is read while the first one commits: read before the first adopted the shared
    # decision, it would claim it too (and be refused); it is read again instead.
    g = LegacyGraph()
    first, second = (
        g.node("ProjectCase", "pc:X-1", story_id="X-1"),
        g.node("ProjectCase", "pc:X-2", story_id="X-2"),
    )
    plan = g.node("PlanVersion", "PV-X1", id="PV-X1", story_id="X-1", version=1)
    g.edge(first, "HAS_PLAN", plan)
    shared = g.node("Decision", "D-SHARED", id="D-SHARED", kind="design", summary="One queue per market")
    g.edge(plan, "CONTAINS_DECISION", shared)
    task = g.node("Task", "X-2-T1", task_id="X-2-T1", story_id="X-2", title="Market queue")
    g.edge(task, "BELONGS_TO", second)
    g.edge(task, "INFLUENCED_BY", shared)
    async with legacy_store("falkordb", request) as graph:
        await g.write(graph)
        gated = ReadAheadFirst(graph, ["X-2"])
        clock = FixedClock(step_ms=1)
        commits = CommitStep(writer=gated, log=graph, publisher=InMemoryEventPublisher(), clock=clock)
        adopt = AdoptLegacy(
            legacy=gated, commits=commits, checkpoints=InMemoryKeyValueStore(), roles=str, clock=clock
        )

        summary = await adopt.execute(dry_run=False, batch_size=1)
        owner = await graph.read_rows("MATCH (d:Decision {id: 'D-SHARED'}) RETURN d.story_id", {}, "test")

    assert (summary.adopted, summary.failed) == (2, [])
    assert owner == [["X-1"]]
