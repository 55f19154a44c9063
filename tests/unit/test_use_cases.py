"""Use-case tests through the composition root's wiring, on in-memory adapters and fakes of our own ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from redis.crc import key_slot

from context_service.adapters.memory.events import DiscardingEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.adapters.policy_file import load_policy
from context_service.adapters.tokenizer import CharEstimateCounter
from context_service.application.common import RequestMeta
from context_service.application.create_story import StoryRequest
from context_service.application.create_task import TaskRequest
from context_service.application.get_context import ContextRequest, ContextResult
from context_service.application.rehydrate_session import RehydrateRequest
from context_service.application.update_context import UpdateRequest
from context_service.bootstrap import Container, memory_adapters, wire
from context_service.domain.changes import RawChange
from context_service.domain.errors import Aborted, InvalidArgument
from context_service.domain.model import PlanningReadModel, Story, StoryGraph
from context_service.domain.policy import ScopePolicy
from context_service.ports.errors import StoreUnavailable
from context_service.ports.events import OutboundEvent
from tests.support.fakes import FixedClock, SequentialIds

STORY_ID = "S-UC-1"
IDEMPOTENCY_KEY = "retry-key-1"
ALL_ROLES = ("architect", "developer", "devops", "qa", "data")


class CountingGraph(InMemoryGraph):
    """The in-memory graph, recording every story read so tests can assert round trips."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get_story(self, story_id: str) -> Story | None:
        """Record, then read."""
        self.reads.append("get_story")
        return await super().get_story(story_id)

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """Record, then read."""
        self.reads.append("load_story_graph")
        return await super().load_story_graph(story_id)

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """Read, then record whether the load came along with the revision."""
        revision, graph = await super().load_if_changed(story_id, seen)
        self.reads.append("revision" if graph is None else "revision and load")
        return revision, graph


class CountingPlanningStore(InMemoryPlanningStore):
    """The in-memory planning read-models, recording every batched load."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, tuple[str, ...]]] = []

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """Record, then load."""
        roles = tuple(roles)
        self.loads.append((story_id, roles))
        return await super().load(story_id, roles)


class FailingPublisher(DiscardingEventPublisher):
    """An EventPublisher whose broker is down."""

    def __init__(self) -> None:
        self.attempts: list[OutboundEvent] = []

    async def publish(self, event: OutboundEvent) -> None:
        """Record the attempt, then fail as an unreachable broker does."""
        self.attempts.append(event)
        raise StoreUnavailable("broker unreachable", backend="fake", operation="publish")


@pytest.fixture(scope="module")
def policy() -> ScopePolicy:
    """The packaged default policy."""
    return load_policy()


def build(policy: ScopePolicy, **replace: Any) -> Container:
    """Wire the in-memory backend (fixed clock, sequential ids), replacing some adapters.

    The character estimate stands in for cl100k_base: these tests are about data flow, not token counts,
    and loading the vocabulary per test would cost a third of a second.
    """
    adapters = memory_adapters(
        graph=CountingGraph(), clock=FixedClock(), ids=SequentialIds(), tokens=CharEstimateCounter()
    )
    return wire(dataclasses.replace(adapters, **replace), policy)


async def seed(container: Container) -> None:
    """A story with one task per default role, one decision and a summary."""
    uc = container.use_cases
    await uc.create_story.execute(StoryRequest(STORY_ID, "Checkout flow", "Pay with a card"))
    for i, role in enumerate(ALL_ROLES, start=1):
        await uc.create_task.execute(
            TaskRequest(STORY_ID, f"T-{i}", f"Task for {role}", role=role, priority=i)
        )
    await uc.update_context.execute(
        UpdateRequest(
            STORY_ID,
            "",
            "architect",
            (RawChange("CREATE", "DECISION", "D-1", '{"title": "Use Stripe", "task_ids": "T-1,T-2"}'),),
        )
    )


def graph_of(container: Container) -> CountingGraph:
    """The counting graph behind a container."""
    graph = container.adapters.graph
    assert isinstance(graph, CountingGraph)
    return graph


def update(*changes: RawChange) -> UpdateRequest:
    """An UpdateContext request from the developer on the seeded story."""
    return UpdateRequest(STORY_ID, "T-2", "developer", changes)


DONE = RawChange("UPDATE", "SUBTASK", "T-2", '{"status": "DONE"}', "finished")
BLOCKED = RawChange("UPDATE", "SUBTASK", "T-2", '{"status": "BLOCKED"}', "stuck")


# --- CreateTask ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["priority", "estimated_hours"])
async def test_a_task_with_a_negative_count_is_rejected_naming_the_field_and_not_written(
    policy: ScopePolicy, field: str
) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    negative = TaskRequest(STORY_ID, "T-NEG", "Negative", role="developer", **{field: -1})

    # Act
    with pytest.raises(InvalidArgument) as caught:
        await container.use_cases.create_task.execute(negative)

    # Assert
    assert (caught.value.field, caught.value.message) == (field, f"{field} must not be negative")
    graph = await container.adapters.graph.load_story_graph(STORY_ID)
    assert graph is not None
    assert "T-NEG" not in {t.task_id for t in graph.tasks}


# --- UpdateContext idempotency ----------------------------------------------------------------------


async def test_update_with_an_idempotency_key_stores_its_response_in_the_kv(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)

    # Act
    result = await container.use_cases.update_context.execute(
        update(DONE), RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    )

    # Assert
    stored = await container.adapters.kv.get(f"ctx:idem:update:{{{STORY_ID}}}:{IDEMPOTENCY_KEY}")
    assert stored is not None
    assert stored["response"] == {"version": result.version, "hash": result.hash, "warnings": []}


async def test_an_update_keeps_its_idempotency_record_and_outbox_records_in_one_cluster_slot(
    policy: ScopePolicy,
) -> None:
    # Arrange
    kv = InMemoryKeyValueStore()
    container = build(policy, kv=kv, publisher=OutboxPublisher(kv=kv, clock=FixedClock()))
    await seed(container)

    # Act
    await container.use_cases.update_context.execute(
        update(DONE), RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    )

    # Assert
    keys = await kv.list_keys("ctx:*")
    assert any(k.startswith("ctx:outbox:") for k in keys)
    assert any(k.startswith("ctx:idem:") for k in keys)
    assert {key_slot(k.encode()) for k in keys} == {key_slot(STORY_ID.encode())}


async def test_retry_with_the_same_key_and_content_returns_the_same_result(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    meta = RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    first = await container.use_cases.update_context.execute(update(DONE), meta)

    # Act
    second = await container.use_cases.update_context.execute(update(DONE), meta)

    # Assert
    assert second == first


async def test_retry_with_the_same_key_and_content_adds_no_history_and_no_version(
    policy: ScopePolicy,
) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    meta = RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    await container.use_cases.update_context.execute(update(DONE), meta)

    # Act
    await container.use_cases.update_context.execute(update(DONE), meta)

    # Assert
    graph = graph_of(container)
    story = await graph.get_story(STORY_ID)
    history = await graph.history(STORY_ID)
    assert story is not None
    assert (story.context_version, [r.entity_id for r in history if r.version]) == (2, ["T-2", "D-1"])


async def test_retry_after_the_kv_record_is_lost_still_commits_once(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    meta = RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    first = await container.use_cases.update_context.execute(update(DONE), meta)
    await container.adapters.kv.delete(f"ctx:idem:update:{{{STORY_ID}}}:{IDEMPOTENCY_KEY}")

    # Act
    second = await container.use_cases.update_context.execute(update(DONE), meta)

    # Assert
    history = await graph_of(container).history(STORY_ID)
    assert (second.version, second.hash, len([r for r in history if r.version])) == (
        first.version,
        first.hash,
        2,
    )


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(update(BLOCKED), id="other-change"),
        pytest.param(update(DONE, BLOCKED), id="extra-change"),
        pytest.param(UpdateRequest(STORY_ID, "T-2", "qa", (DONE,)), id="other-role"),
        pytest.param(UpdateRequest(STORY_ID, "T-1", "developer", (DONE,)), id="other-task"),
    ],
)
async def test_same_key_with_different_content_is_aborted(policy: ScopePolicy, other: UpdateRequest) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    meta = RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    await container.use_cases.update_context.execute(update(DONE), meta)

    # Act
    with pytest.raises(Aborted, match="different content"):
        await container.use_cases.update_context.execute(other, meta)


async def test_aborted_retry_changes_nothing(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    meta = RequestMeta(idempotency_key=IDEMPOTENCY_KEY)
    await container.use_cases.update_context.execute(update(DONE), meta)

    # Act
    with pytest.raises(Aborted):
        await container.use_cases.update_context.execute(update(BLOCKED), meta)

    # Assert
    graph = await graph_of(container).load_story_graph(STORY_ID)
    assert graph is not None
    t2 = graph.task("T-2")
    assert t2 is not None
    assert (graph.story.context_version, t2.status) == (2, "DONE")


async def test_updates_without_a_key_each_commit(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    await container.use_cases.update_context.execute(update(DONE))

    # Act
    second = await container.use_cases.update_context.execute(update(DONE))

    # Assert
    assert second.version == 3


# --- UpdateContext and events -----------------------------------------------------------------------


async def test_publish_failure_does_not_fail_update_context(policy: ScopePolicy) -> None:
    # Arrange
    publisher = FailingPublisher()
    container = build(policy, publisher=publisher)
    await seed(container)

    # Act
    result = await container.use_cases.update_context.execute(update(DONE))

    # Assert
    assert (result.version, result.warnings, len(publisher.attempts)) == (2, (), 2)


async def test_change_is_committed_even_when_publishing_fails(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy, publisher=FailingPublisher())
    await seed(container)

    # Act
    await container.use_cases.update_context.execute(update(DONE))

    # Assert
    graph = graph_of(container)
    loaded = await graph.load_story_graph(STORY_ID)
    history = await graph.history(STORY_ID)
    assert loaded is not None
    t2 = loaded.task("T-2")
    assert t2 is not None
    assert (t2.status, loaded.story.context_version, history[0].entity_id, history[0].version) == (
        "DONE",
        2,
        "T-2",
        2,
    )


async def test_malformed_change_becomes_a_warning_and_the_valid_ones_commit(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    malformed = RawChange("CREATE", "DECISION", "D-9", '{"title": "x", "relations": 5}')

    # Act
    result = await container.use_cases.update_context.execute(update(malformed, DONE))

    # Assert
    assert result.version == 2
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("Failed to process D-9: ")


# --- read round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [ALL_ROLES, ("DEV", "ARCH", "TESTER", "OPS", "data")])
async def test_rehydrate_loads_the_graph_once_for_all_roles(
    policy: ScopePolicy, roles: tuple[str, ...]
) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    graph = graph_of(container)
    graph.reads.clear()

    # Act
    await container.use_cases.rehydrate_session.execute(
        RehydrateRequest(STORY_ID, roles, include_timeline=True, include_summaries=True)
    )

    # Assert
    assert graph.reads == ["revision and load"]


async def test_rehydrate_loads_the_planning_read_models_once_for_all_roles(policy: ScopePolicy) -> None:
    # Arrange
    planning = CountingPlanningStore()
    container = build(policy, planning=planning)
    await seed(container)
    planning.loads.clear()

    # Act
    await container.use_cases.rehydrate_session.execute(
        RehydrateRequest(STORY_ID, ALL_ROLES, include_timeline=True, include_summaries=True)
    )

    # Assert
    assert planning.loads == [(STORY_ID, ALL_ROLES)]


async def test_rehydrate_builds_a_pack_for_every_requested_role(policy: ScopePolicy) -> None:
    # Arrange
    container = build(policy)
    await seed(container)

    # Act
    result = await container.use_cases.rehydrate_session.execute(RehydrateRequest(STORY_ID, ALL_ROLES))

    # Assert
    assert sorted(result.packs) == sorted(ALL_ROLES)


GET_CONTEXT_CASES = [
    pytest.param(ContextRequest(STORY_ID, "developer", "BUILD"), id="developer-build"),
    pytest.param(ContextRequest(STORY_ID, "architect", "DESIGN"), id="architect-design"),
    pytest.param(ContextRequest(STORY_ID, "qa", "TEST", subtask_id="T-4"), id="qa-test-with-subtask"),
    pytest.param(
        ContextRequest(STORY_ID, "devops", "BUILD", token_budget=60), id="devops-build-tight-budget"
    ),
]


@pytest.mark.parametrize("request_", GET_CONTEXT_CASES)
async def test_get_context_reads_the_graph_once_per_call(
    policy: ScopePolicy, request_: ContextRequest
) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    graph = graph_of(container)
    graph.reads.clear()

    # Act
    await container.use_cases.get_context.execute(request_)

    # Assert
    assert graph.reads == ["revision and load"]


@pytest.mark.parametrize("request_", GET_CONTEXT_CASES)
async def test_get_context_loads_the_planning_read_models_once_per_call(
    policy: ScopePolicy, request_: ContextRequest
) -> None:
    # Arrange
    planning = CountingPlanningStore()
    container = build(policy, planning=planning)
    await seed(container)
    planning.loads.clear()

    # Act
    await container.use_cases.get_context.execute(request_)

    # Assert
    assert len(planning.loads) == 1


async def test_repeated_get_context_calls_read_the_graph_once_each_and_load_it_once(
    policy: ScopePolicy,
) -> None:
    # Arrange
    container = build(policy)
    await seed(container)
    graph = graph_of(container)
    graph.reads.clear()

    # Act
    for _ in range(3):
        await container.use_cases.get_context.execute(ContextRequest(STORY_ID, "developer", "BUILD"))

    # Assert: the later calls find the story still at the revision of the load kept from the first
    assert graph.reads == ["revision and load", "revision", "revision"]


class ManualWatch:
    """A ChangeWatch the test drives: `changed()` is a pushed change, `up` whether it can tell."""

    def __init__(self) -> None:
        self.generation = 0
        self.up = True
        self.readers = 0  # reads begun and not yet ended
        self.reads_begun = 0

    def changed(self) -> None:
        self.generation += 1

    async def caught_up(self) -> bool:
        return self.up

    def begin_read(self) -> None:
        self.readers += 1
        self.reads_begun += 1

    def end_read(self) -> None:
        self.readers -= 1


class ChangingPlanningStore(CountingPlanningStore):
    """Counting loads; `during_load` runs while a load is in flight (a change arriving meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.during_load: Callable[[], None] = lambda: None

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """Record, run the hook, then load."""
        self.during_load()
        return await super().load(story_id, roles)


def watched(policy: ScopePolicy) -> tuple[Container, ManualWatch, ChangingPlanningStore]:
    """The in-memory backend with a change watch on the cached reads' inputs."""
    watch, planning = ManualWatch(), ChangingPlanningStore()
    return build(policy, planning=planning, changes=watch), watch, planning


DEVELOPER_DESIGN = ContextRequest(STORY_ID, "developer", "DESIGN")  # shows the last summary


async def cached_context(container: Container) -> ContextResult:
    """GetContext through the response cache, as the gRPC edge calls it."""
    return await container.use_cases.get_context.answer(
        container.use_cases.get_context.validated(DEVELOPER_DESIGN), lambda result: (result, 1)
    )


async def test_while_the_watch_sees_no_change_the_inputs_are_read_once(policy: ScopePolicy) -> None:
    # Arrange
    container, _, planning = watched(policy)
    await seed(container)
    planning.loads.clear()

    # Act
    answers = [await cached_context(container) for _ in range(3)]

    # Assert
    assert len(planning.loads) == 1
    assert answers[0] == answers[1] == answers[2]


async def test_a_change_the_watch_reports_makes_the_next_call_read_and_see_it(policy: ScopePolicy) -> None:
    # Arrange
    container, watch, planning = watched(policy)
    await seed(container)
    before = await cached_context(container)
    planning.loads.clear()

    # Act
    await planning.put_summary(STORY_ID, "Cards are charged on confirmation.")
    watch.changed()
    after = await cached_context(container)

    # Assert
    assert len(planning.loads) == 1
    assert "Cards are charged on confirmation." in after.context
    assert "Cards are charged on confirmation." not in before.context


async def test_without_a_caught_up_watch_every_call_reads_its_inputs(policy: ScopePolicy) -> None:
    # Arrange
    container, watch, planning = watched(policy)
    await seed(container)
    watch.up = False
    planning.loads.clear()

    # Act
    for _ in range(3):
        await cached_context(container)

    # Assert
    assert len(planning.loads) == 3
    assert watch.reads_begun >= 3  # each read told the watch it began (again after each store read) ...
    assert watch.readers == 0  # ... and that it ended


async def test_inputs_read_while_a_change_came_in_are_not_kept(policy: ScopePolicy) -> None:
    # Arrange
    container, watch, planning = watched(policy)
    await seed(container)
    planning.during_load = watch.changed  # every load races a change
    planning.loads.clear()

    # Act
    for _ in range(3):
        await cached_context(container)

    # Assert
    assert len(planning.loads) == 3


async def test_the_first_read_after_a_write_gets_the_new_load_with_the_revision(policy: ScopePolicy) -> None:
    # Arrange: an answer cached, then a write to its story
    container, watch, _ = watched(policy)
    await seed(container)
    before = await cached_context(container)
    await container.use_cases.update_context.execute(update(DONE))
    watch.changed()
    graph = graph_of(container)
    graph.reads.clear()

    # Act
    after = await cached_context(container)

    # Assert: one read of the graph, and the answer shows the write
    assert graph.reads == ["revision and load"]
    assert after.version != before.version
    assert after == await container.use_cases.get_context.execute(DEVELOPER_DESIGN)


async def test_a_read_of_a_story_unchanged_since_its_last_load_gets_only_the_revision(
    policy: ScopePolicy,
) -> None:
    # Arrange: an answer cached; then a change elsewhere makes the watch move on
    container, watch, _ = watched(policy)
    await seed(container)
    before = await cached_context(container)
    watch.changed()
    graph = graph_of(container)
    graph.reads.clear()

    # Act
    after = await cached_context(container)

    # Assert
    assert graph.reads == ["revision"]
    assert after == before


async def test_a_new_question_about_an_unchanged_story_is_built_from_the_kept_load(
    policy: ScopePolicy,
) -> None:
    # Arrange: the story loaded for one question
    container, _, _ = watched(policy)
    await seed(container)
    await cached_context(container)
    graph = graph_of(container)
    graph.reads.clear()
    other = ContextRequest(STORY_ID, "qa", "TEST")

    # Act
    get_context = container.use_cases.get_context
    answer = await get_context.answer(get_context.validated(other), lambda result: (result, 1))

    # Assert: the inputs' read, then the load to build from, each confirmed by the revision alone
    assert graph.reads == ["revision", "revision"]
    assert answer == await container.use_cases.get_context.execute(other)
