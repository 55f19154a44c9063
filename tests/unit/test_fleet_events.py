"""The use cases behind the planning and orchestration events, wired on the in-memory backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass

import pytest

from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.policy_file import load_policy
from context_service.adapters.tokenizer import CharEstimateCounter
from context_service.application.approve_plan import PlanApproved
from context_service.application.common import RequestMeta
from context_service.application.create_story import StoryRequest
from context_service.application.dispatch_task import TaskDispatched
from context_service.application.errors_table import report_for
from context_service.application.record_deliberation import DeliberatedDecision, DeliberationCompleted
from context_service.application.record_epic import EpicCreated
from context_service.application.record_planned_task import TaskCreated
from context_service.application.record_project import ProjectCreated
from context_service.application.services import UseCases
from context_service.application.transition_phase import TransitionRequest
from context_service.bootstrap import memory_adapters, wire
from context_service.domain.errors import InvalidArgument, NotYetKnown
from context_service.domain.model import Neighbourhood
from context_service.domain.mutations import NodeKind
from context_service.domain.policy import ScopePolicy
from context_service.ports.errors import PortError
from tests.support.fakes import FixedClock, SequentialIds

OCCURRED_MS = 1_793_534_400_000
PROJECT, EPIC, STORY, PLAN = "PRJ-1", "EPIC-1", "S-1", "PLAN-1"


@dataclass
class World:
    """The use case with the adapters behind it."""

    events: UseCases
    graph: InMemoryGraph
    published: InMemoryEventPublisher


@pytest.fixture(scope="module")
def policy() -> ScopePolicy:
    """The packaged default policy."""
    return load_policy()


@pytest.fixture
def world(policy: ScopePolicy) -> World:
    """A fresh in-memory world."""
    graph, published = InMemoryGraph(), InMemoryEventPublisher()
    adapters = memory_adapters(
        graph=graph, clock=FixedClock(), ids=SequentialIds(), tokens=CharEstimateCounter()
    )
    container = wire(dataclasses.replace(adapters, publisher=published), policy)
    return World(container.use_cases, graph, published)


def meta(key: str = "key-1", subject: str = "") -> RequestMeta:
    """Envelope facts of one event."""
    return RequestMeta(f"corr-{key}", key, OCCURRED_MS, subject)


async def hierarchy(world: World) -> None:
    """Project → epic → story → one task in plan PLAN-1."""
    e = world.events
    await e.record_project.execute(
        ProjectCreated(PROJECT, "Shop", "The web shop", "active", "ana", 1), meta("p")
    )
    await e.record_epic.execute(EpicCreated(EPIC, PROJECT, "Checkout"), meta("e"))
    await e.create_story.execute(StoryRequest(STORY, "Pay by card", epic_id=EPIC), meta("s"))
    await e.record_planned_task.execute(
        TaskCreated("T-1", PLAN, "Build the form", "feature", "todo", story_id=STORY, role="DEV"), meta("t")
    )


async def around(world: World, label: str, node_id: str) -> Neighbourhood:
    """The node and its direct neighbours."""
    found = await world.graph.neighbourhood(label, node_id, 1, 100)
    assert found is not None
    return found


def links(found: Neighbourhood) -> set[tuple[str, str, str]]:
    """(src, type, dst) of every relationship."""
    return {(link.src_id, link.rel_type, link.dst_id) for link in found.links}


def deliberation(key_decision: str = "DEC-A", affected: str = "T-1") -> DeliberationCompleted:
    """A deliberation on T-1 with one decision."""
    decision = DeliberatedDecision(key_decision, "architecture", "Use Stripe", "PCI scope", affected)
    return DeliberationCompleted("T-1", (decision,), story_id=STORY, role="architect")


# --- planning hierarchy ---------------------------------------------------------------------------


async def test_project_created_upserts_the_project_with_its_fields(world: World) -> None:
    # Act
    await world.events.record_project.execute(
        ProjectCreated(PROJECT, "Shop", "The web shop", "active", "ana", 42), meta()
    )

    # Assert
    props = (await around(world, "Project", PROJECT)).node.properties
    assert {k: props[k] for k in ("name", "description", "status", "owner", "created_at_ms")} == {
        "name": "Shop",
        "description": "The web shop",
        "status": "ACTIVE",
        "owner": "ana",
        "created_at_ms": 42,
    }


async def test_planning_events_link_project_epic_story_and_task(world: World) -> None:
    # Act
    await hierarchy(world)

    # Assert
    assert links(await around(world, "Epic", EPIC)) == {
        (PROJECT, "HAS_EPIC", EPIC),
        (EPIC, "CONTAINS_STORY", STORY),
    }
    assert (STORY, "HAS_TASK", "T-1") in links(await around(world, "Story", STORY))


async def test_story_created_starts_in_design_under_its_epic(world: World) -> None:
    # Act
    await hierarchy(world)

    # Assert
    story = await world.graph.get_story(STORY)
    assert story is not None
    assert (story.title, story.current_phase, story.epic_id, story.context_version) == (
        "Pay by card",
        "DESIGN",
        EPIC,
        0,
    )


async def test_task_created_matches_enum_values_case_insensitively(world: World) -> None:
    # Act
    await hierarchy(world)

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    task = graph.tasks[0]
    assert (task.task_type, task.status, task.role, task.plan_id) == ("FEATURE", "TODO", "developer", PLAN)


async def test_a_redelivered_created_event_changes_nothing(world: World) -> None:
    # Arrange
    await hierarchy(world)
    before = await world.graph.load_story_graph(STORY)

    # Act
    await world.events.record_planned_task.execute(
        TaskCreated("T-1", PLAN, "Build the form", "feature", "todo", story_id=STORY, role="DEV"), meta("t")
    )

    # Assert
    assert await world.graph.load_story_graph(STORY) == before


async def _reported(work: Awaitable[object]) -> tuple[str, str, bool]:
    """What the error table tells a caller about the failure of `work`."""
    with pytest.raises(PortError) as caught:
        await work
    found = report_for(caught.value)
    return found.code, found.message, found.retryable


async def test_an_epic_before_its_project_is_retried_later(world: World) -> None:
    # Act
    found = await _reported(
        world.events.record_epic.execute(EpicCreated(EPIC, "PRJ-LATER", "Checkout"), meta())
    )

    # Assert
    assert found == ("NOT_FOUND", "linked project 'PRJ-LATER' not found", True)


async def test_a_story_before_its_epic_is_retried_later(world: World) -> None:
    # Act
    found = await _reported(
        world.events.create_story.execute(StoryRequest(STORY, "Pay by card", epic_id="EPIC-LATER"), meta())
    )

    # Assert
    assert found == ("NOT_FOUND", "linked epic 'EPIC-LATER' not found", True)


async def test_a_task_before_its_story_is_retried_later(world: World) -> None:
    # Act
    found = await _reported(
        world.events.record_planned_task.execute(
            TaskCreated("T-9", PLAN, "x", "feature", "todo", "S-LATER"), meta()
        )
    )

    # Assert
    assert found == ("NOT_FOUND", "story 'S-LATER' not found", True)


async def test_a_task_without_a_story_joins_the_story_of_its_plan(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.approve_plan.execute(PlanApproved(PLAN, STORY), meta("approve"))

    # Act
    await world.events.record_planned_task.execute(
        TaskCreated("T-2", PLAN, "Add tests", "test", "todo"), meta("t2")
    )

    # Assert
    assert (PLAN, "HAS_TASK", "T-2") in links(await around(world, "Task", "T-2"))
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert [t.task_id for t in graph.tasks] == ["T-1", "T-2"]


async def test_a_task_of_an_unknown_plan_without_a_story_is_not_known_yet(world: World) -> None:
    # Act / Assert
    with pytest.raises(NotYetKnown):
        await world.events.record_planned_task.execute(
            TaskCreated("T-2", "PLAN-X", "x", "test", "todo"), meta()
        )


@pytest.mark.parametrize("field", ["priority", "estimated_hours"])
async def test_a_planned_task_with_a_negative_count_is_rejected_naming_the_field_and_not_written(
    world: World, field: str
) -> None:
    # Arrange
    await hierarchy(world)
    negative = TaskCreated("T-NEG", PLAN, "x", "feature", "todo", STORY, **{field: -1})

    # Act
    with pytest.raises(InvalidArgument) as caught:
        await world.events.record_planned_task.execute(negative, meta("neg"))

    # Assert
    assert (caught.value.field, caught.value.message) == (field, f"{field} must not be negative")
    assert await world.graph.locate([(NodeKind.TASK, "T-NEG")]) == {}


async def test_a_task_id_of_another_story_is_a_conflict(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.create_story.execute(StoryRequest("S-2", "Refunds", epic_id=EPIC), meta("s2"))

    # Act
    found = await _reported(
        world.events.record_planned_task.execute(
            TaskCreated("T-1", PLAN, "x", "feature", "todo", "S-2"), meta()
        )
    )

    # Assert
    assert found == ("ALREADY_EXISTS", f"task 'T-1' already belongs to story '{STORY}'", False)


# --- transitions and approvals ----------------------------------------------------------------------


async def test_story_transitioned_records_the_transition_and_the_new_phase(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    await world.events.transition_phase.execute(TransitionRequest(STORY, "build", rationale="go"), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert graph.story.current_phase == "BUILD"
    assert [(t.from_phase, t.to_phase, t.rationale) for t in graph.transitions] == [("DESIGN", "BUILD", "go")]


async def test_a_redelivered_transition_records_one_transition_and_one_announcement(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.transition_phase.execute(TransitionRequest(STORY, "build"), meta())

    # Act
    await world.events.transition_phase.execute(TransitionRequest(STORY, "build"), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert len(graph.transitions) == 1
    assert [e.payload["changed"] for e in world.published.events] == [
        [{"entity_type": "PHASE", "entity_id": graph.transitions[0].transition_id}]
    ]


async def test_an_unknown_phase_is_an_invalid_argument(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    with pytest.raises(InvalidArgument) as caught:
        await world.events.transition_phase.execute(TransitionRequest(STORY, "deploy"), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert (caught.value.field, graph.story.current_phase, graph.transitions) == ("to_phase", "DESIGN", ())


async def test_plan_approved_sets_the_plan_approved_and_records_the_approval(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    await world.events.approve_plan.execute(PlanApproved(PLAN, STORY, approved_by="po"), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert [(p.plan_id, p.status) for p in graph.plans] == [(PLAN, "APPROVED")]
    approval = await around(world, "PlanApproval", f"PA-{PLAN}")
    assert approval.node.properties["approved_by"] == "po"
    assert {(f"PA-{PLAN}", "APPROVES", PLAN), (STORY, "HAS_APPROVAL", f"PA-{PLAN}")} <= links(approval)


# --- deliberations and dispatches -------------------------------------------------------------------


async def test_deliberation_upserts_its_decisions_influenced_by_the_affected_subtask(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    await world.events.record_deliberation.execute(deliberation(), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    decision = graph.decisions[0]
    assert (decision.decision_id, decision.decision_type, decision.rationale, decision.influences) == (
        "DEC-A",
        "ARCHITECTURE",
        "PCI scope",
        ("T-1",),
    )


async def test_deliberation_bumps_the_version_once_with_history_and_announces_it(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    version = await world.events.record_deliberation.execute(
        deliberation(), meta(subject="orchestration.deliberation.completed")
    )

    # Assert
    [newest, *_] = await world.graph.history(STORY)
    recorded = (newest.version, newest.operation, newest.entity_id, newest.request_id, newest.source)
    assert (version, recorded) == (1, (1, "CREATE", "DEC-A", "key-1", "orchestration.deliberation.completed"))
    assert [(e.payload["version"], e.correlation_id) for e in world.published.events] == [(1, "corr-key-1")]


async def test_a_second_deliberation_on_a_decision_records_an_update(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.record_deliberation.execute(deliberation(), meta("key-1"))
    revised = DeliberatedDecision("DEC-A", "architecture", "Use Stripe", "PCI scope and refunds", "T-1")

    # Act
    await world.events.record_deliberation.execute(
        DeliberationCompleted("T-1", (revised,), story_id=STORY, role="architect"), meta("key-2")
    )

    # Assert
    records = [(r.version, r.operation) for r in await world.graph.history(STORY, entity_id="DEC-A")]
    assert records == [(2, "UPDATE"), (1, "CREATE")]


async def test_a_redelivered_deliberation_changes_nothing(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.record_deliberation.execute(deliberation(), meta())

    # Act
    version = await world.events.record_deliberation.execute(deliberation(), meta())

    # Assert
    story = await world.graph.get_story(STORY)
    assert story is not None
    bumped = [r for r in await world.graph.history(STORY) if r.version]
    assert (version, story.context_version, len(bumped)) == (1, 1, 1)
    assert len(world.published.events) == 1


async def test_decisions_without_an_id_are_numbered_after_the_task(world: World) -> None:
    # Arrange
    await hierarchy(world)
    decisions = (DeliberatedDecision(title="First"), DeliberatedDecision(title="Second"))

    # Act
    await world.events.record_deliberation.execute(DeliberationCompleted("T-1", decisions), meta())

    # Assert
    graph = await world.graph.load_story_graph(STORY)
    assert graph is not None
    assert sorted(d.decision_id for d in graph.decisions) == ["DEC-T-1-0", "DEC-T-1-1"]


async def test_a_deliberation_naming_an_unknown_subtask_is_not_known_yet(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act / Assert
    with pytest.raises(NotYetKnown):
        await world.events.record_deliberation.execute(deliberation(affected="T-LATER"), meta())


async def test_a_deliberation_for_an_unknown_story_is_not_known_yet(world: World) -> None:
    # Act / Assert
    with pytest.raises(NotYetKnown):
        await world.events.record_deliberation.execute(deliberation(), meta())


async def test_task_dispatched_sets_the_task_in_progress_and_records_the_dispatch(world: World) -> None:
    # Arrange
    await hierarchy(world)

    # Act
    await world.events.dispatch_task.execute(TaskDispatched("T-1", agent_id="agent-7"), meta())

    # Assert
    task = await around(world, "Task", "T-1")
    dispatch = next(n for n in task.neighbours if n.label == "TaskDispatch")
    assert (task.node.properties["status"], dispatch.properties["agent_id"]) == ("IN_PROGRESS", "agent-7")


async def test_a_redelivered_dispatch_records_one_dispatch(world: World) -> None:
    # Arrange
    await hierarchy(world)
    await world.events.dispatch_task.execute(TaskDispatched("T-1"), meta())

    # Act
    await world.events.dispatch_task.execute(TaskDispatched("T-1"), meta())

    # Assert
    task = await around(world, "Task", "T-1")
    assert [n.label for n in task.neighbours].count("TaskDispatch") == 1


async def test_dispatching_an_unknown_task_is_not_known_yet(world: World) -> None:
    # Act / Assert
    with pytest.raises(NotYetKnown):
        await world.events.dispatch_task.execute(TaskDispatched("T-LATER"), meta())
