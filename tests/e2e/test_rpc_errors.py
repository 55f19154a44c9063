"""Status codes over real gRPC: validation, not-found, preconditions, limits, deadlines (02 §2.8)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.domain.model import StoryGraph
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.e2e.builders import (
    STORY_ID,
    change,
    create_story,
    create_task,
    rehydrate,
    rpc_error,
    status_of,
    update,
    update_request,
    updated_events,
)
from tests.support.harness import Service, running_service

Call = Callable[[pb_grpc.ContextServiceStub], Awaitable[object]]
KNOWN_ROLES = "architect, data, developer, devops, qa"
LONG_ID = "S" * 257


def call_with_id(ident: str) -> list[Call]:
    """One call per RPC whose required id is `ident`; every other field is valid."""
    return [
        lambda s: s.GetContext(pb.GetContextRequest(story_id=ident, role="developer", phase="BUILD")),
        lambda s: s.UpdateContext(update_request(change("CREATE", "MILESTONE", "M-1"), story_id=ident)),
        lambda s: s.RehydrateSession(pb.RehydrateSessionRequest(case_id=ident, roles=["developer"])),
        lambda s: s.CreateStory(pb.CreateStoryRequest(story_id=ident, title="Login")),
        lambda s: s.CreateTask(
            pb.CreateTaskRequest(story_id=STORY_ID, task_id=ident, title="Tokens", role="developer")
        ),
        lambda s: s.CreateTask(
            pb.CreateTaskRequest(story_id=ident, task_id="T-1", title="Tokens", role="developer")
        ),
        lambda s: s.AddProjectDecision(pb.AddProjectDecisionRequest(story_id=ident, title="Use JWT")),
        lambda s: s.TransitionPhase(pb.TransitionPhaseRequest(story_id=ident, to_phase="BUILD")),
        lambda s: s.GetGraphRelationships(pb.GetGraphRelationshipsRequest(node_id=ident, node_type="Story")),
    ]


RPC_IDS = [
    "GetContext.story_id",
    "UpdateContext.story_id",
    "RehydrateSession.case_id",
    "CreateStory.story_id",
    "CreateTask.task_id",
    "CreateTask.story_id",
    "AddProjectDecision.story_id",
    "TransitionPhase.story_id",
    "GetGraphRelationships.node_id",
]


# INVALID_ARGUMENT: ids


@pytest.mark.parametrize("ident", ["", "  \t "], ids=["missing", "blank"])
@pytest.mark.parametrize("rpc", range(len(RPC_IDS)), ids=RPC_IDS)
async def test_a_missing_or_blank_id_is_invalid_argument(service: Service, rpc: int, ident: str) -> None:
    await create_story(service)

    error = await rpc_error(call_with_id(ident)[rpc](service.stub))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "required" in error.details()


@pytest.mark.parametrize("call", call_with_id(LONG_ID), ids=RPC_IDS)
async def test_an_id_of_257_characters_is_invalid_argument(service: Service, call: Call) -> None:
    await create_story(service)

    error = await rpc_error(call(service.stub))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "256" in error.details()


async def test_an_id_of_256_characters_is_accepted(service: Service) -> None:
    story_id = "S" * 256

    response = await create_story(service, story_id)

    assert response.story_id == story_id


async def test_a_blank_story_title_is_invalid_argument(service: Service) -> None:
    error = await rpc_error(create_story(service, title="   "))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


# INVALID_ARGUMENT: vocabulary


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.GetContext(pb.GetContextRequest(story_id=STORY_ID, role="wizard", phase="BUILD")),
        lambda s: s.CreateTask(
            pb.CreateTaskRequest(story_id=STORY_ID, task_id="T-1", title="Tokens", role="wizard")
        ),
        lambda s: s.RehydrateSession(
            pb.RehydrateSessionRequest(case_id=STORY_ID, roles=["developer", "wizard"])
        ),
    ],
    ids=["GetContext", "CreateTask", "RehydrateSession"],
)
async def test_an_unknown_role_is_invalid_argument_naming_the_known_roles(
    service: Service, call: Call
) -> None:
    await create_story(service)

    error = await rpc_error(call(service.stub))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "wizard" in error.details()
    assert KNOWN_ROLES in error.details()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.GetContext(pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="LAUNCH")),
        lambda s: s.CreateStory(
            pb.CreateStoryRequest(story_id="STORY-NEW-1", title="New", initial_phase="LAUNCH")
        ),
        lambda s: s.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="LAUNCH")),
        lambda s: s.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="")),
        lambda s: s.TransitionPhase(
            pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="LAUNCH", to_phase="BUILD")
        ),
    ],
    ids=[
        "GetContext.phase",
        "CreateStory.initial_phase",
        "TransitionPhase.to_phase",
        "TransitionPhase.blank",
        "TransitionPhase.from_phase",
    ],
)
async def test_an_unknown_phase_is_invalid_argument(service: Service, call: Call) -> None:
    await create_story(service)

    error = await rpc_error(call(service.stub))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("node_type", ["Galaxy", "Decision", ""])
async def test_an_unknown_node_type_is_invalid_argument(service: Service, node_type: str) -> None:
    await create_story(service)

    error = await rpc_error(
        service.stub.GetGraphRelationships(
            pb.GetGraphRelationshipsRequest(node_id=STORY_ID, node_type=node_type)
        )
    )

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


# INVALID_ARGUMENT: dependencies and limits


async def test_task_dependencies_outside_the_story_are_invalid_argument_naming_them(service: Service) -> None:
    await create_story(service)
    await create_story(service, "STORY-SIGNUP-7", title="Signup")
    await create_task(service, "T-1")
    await create_task(service, "T-OTHER", story_id="STORY-SIGNUP-7")

    error = await rpc_error(create_task(service, "T-2", dependencies=["T-1", "T-OTHER", "T-404"]))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "T-OTHER" in error.details()
    assert "T-404" in error.details()
    assert "T-1," not in error.details()


async def test_a_rejected_task_is_not_written(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")

    await rpc_error(create_task(service, "T-2", dependencies=["T-404"]))

    pack = (await rehydrate(service, "developer")).packs["developer"]
    assert [t.subtask_id for t in pack.subtasks] == ["T-1"]


async def test_a_rejected_decision_is_not_written(service: Service) -> None:
    await create_story(service)

    error = await rpc_error(
        service.stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(story_id=STORY_ID, title="Use JWT", metadata={"task_ids": "T-404"})
        )
    )

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list((await rehydrate(service, "architect")).packs["architect"].decisions) == []


async def test_rehydrate_without_roles_is_invalid_argument(service: Service) -> None:
    await create_story(service)

    error = await rpc_error(rehydrate(service))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_rehydrate_with_21_roles_is_invalid_argument(service: Service) -> None:
    await create_story(service)
    roles = ["architect", "developer", "devops", "qa", "data"] * 4 + ["qa"]

    error = await rpc_error(rehydrate(service, *roles))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_rehydrate_with_20_roles_is_accepted(service: Service) -> None:
    await create_story(service)
    roles = ["architect", "developer", "devops", "qa", "data"] * 4

    response = await rehydrate(service, *roles)

    assert set(response.packs) == {"architect", "developer", "devops", "qa", "data"}


async def test_update_with_1001_changes_is_invalid_argument_and_writes_nothing(service: Service) -> None:
    await create_story(service)
    changes = [change("CREATE", "MILESTONE", f"M-{n}", {"description": "x"}) for n in range(1001)]

    error = await rpc_error(update(service, *changes))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [r.entity_type for r in await service.graph.history(STORY_ID)] == ["CASE"]  # its creation only


async def test_a_payload_over_256_kib_is_invalid_argument(service: Service) -> None:
    await create_story(service)
    payload = '{"description": "' + "x" * (256 * 1024) + '"}'

    error = await rpc_error(update(service, change("CREATE", "MILESTONE", "M-1", payload)))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [r.entity_type for r in await service.graph.history(STORY_ID)] == ["CASE"]  # its creation only


async def test_an_update_timestamp_that_is_not_iso_8601_is_invalid_argument(service: Service) -> None:
    await create_story(service)
    request = update_request(change("CREATE", "MILESTONE", "M-1"))
    request.timestamp = "yesterday"

    error = await rpc_error(service.stub.UpdateContext(request))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


# NOT_FOUND


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.GetContext(pb.GetContextRequest(story_id="STORY-404", role="developer", phase="BUILD")),
        lambda s: s.UpdateContext(update_request(change("CREATE", "MILESTONE", "M-1"), story_id="STORY-404")),
        lambda s: s.RehydrateSession(pb.RehydrateSessionRequest(case_id="STORY-404", roles=["developer"])),
        lambda s: s.CreateTask(
            pb.CreateTaskRequest(story_id="STORY-404", task_id="T-1", title="Tokens", role="developer")
        ),
        lambda s: s.AddProjectDecision(pb.AddProjectDecisionRequest(story_id="STORY-404", title="Use JWT")),
        lambda s: s.TransitionPhase(pb.TransitionPhaseRequest(story_id="STORY-404", to_phase="BUILD")),
        lambda s: s.GetContext(
            pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="BUILD", subtask_id="T-404")
        ),
        lambda s: s.GetGraphRelationships(pb.GetGraphRelationshipsRequest(node_id="T-404", node_type="Task")),
        lambda s: s.GetGraphRelationships(
            pb.GetGraphRelationshipsRequest(node_id="STORY-404", node_type="Story")
        ),
    ],
    ids=[
        "GetContext.story",
        "UpdateContext.story",
        "RehydrateSession.story",
        "CreateTask.story",
        "AddProjectDecision.story",
        "TransitionPhase.story",
        "GetContext.subtask",
        "GetGraphRelationships.task",
        "GetGraphRelationships.story",
    ],
)
async def test_a_missing_entity_is_not_found(service: Service, call: Call) -> None:
    await create_story(service)

    error = await rpc_error(call(service.stub))

    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert "not found" in error.details()


async def test_a_subtask_of_another_story_is_not_found(service: Service) -> None:
    await create_story(service)
    await create_story(service, "STORY-SIGNUP-7", title="Signup")
    await create_task(service, "T-OTHER", story_id="STORY-SIGNUP-7")

    error = await rpc_error(
        service.stub.GetContext(
            pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="BUILD", subtask_id="T-OTHER")
        )
    )

    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_a_deleted_task_is_not_found_in_graph_relationships(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await update(service, change("DELETE", "SUBTASK", "T-1"))

    error = await rpc_error(
        service.stub.GetGraphRelationships(pb.GetGraphRelationshipsRequest(node_id="T-1", node_type="Task"))
    )

    assert error.code() is grpc.StatusCode.NOT_FOUND


# FAILED_PRECONDITION


async def test_a_transition_from_another_phase_is_failed_precondition(service: Service) -> None:
    await create_story(service, initial_phase="BUILD")

    error = await rpc_error(
        service.stub.TransitionPhase(
            pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="DESIGN", to_phase="TEST")
        )
    )

    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "BUILD" in error.details()


async def test_a_failed_transition_changes_nothing_and_publishes_nothing(service: Service) -> None:
    await create_story(service, initial_phase="BUILD")

    await rpc_error(
        service.stub.TransitionPhase(
            pb.TransitionPhaseRequest(story_id=STORY_ID, from_phase="DESIGN", to_phase="TEST")
        )
    )

    assert (await create_story(service)).current_phase == "BUILD"
    assert updated_events(service) == []
    milestones = (await rehydrate(service, "qa", include_timeline=True)).packs["qa"].milestones
    assert list(milestones) == []


async def test_context_for_a_pair_without_policy_is_failed_precondition(service: Service) -> None:
    await create_story(service)

    error = await rpc_error(
        service.stub.GetContext(pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="DOC"))
    )

    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "no scope policy for role 'developer' in phase DOC"


# Deadlines


class StalledGraph(InMemoryGraph):
    """A graph whose story read (the one every context read makes) never finishes, and which notes when the
    waiting call is cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = asyncio.Event()

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return None, None


async def test_a_passed_deadline_cancels_the_work_on_the_server() -> None:
    graph = StalledGraph()
    async with running_service(graph=graph) as service:
        await create_story(service)
        request = pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="BUILD")

        code = await status_of(service.stub.GetContext(request, timeout=0.2))

        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.wait_for(graph.cancelled.wait(), timeout=10)  # hangs (and fails) if work went on


async def test_the_service_keeps_serving_after_a_deadline_was_exceeded(service: Service) -> None:
    await create_story(service)
    request = pb.GetContextRequest(story_id=STORY_ID, role="developer", phase="BUILD")
    await status_of(service.stub.GetContext(request, timeout=0.000_001))

    response = await service.stub.GetContext(request, timeout=5)

    assert f"Case: {STORY_ID} — Passwordless login" in response.context
