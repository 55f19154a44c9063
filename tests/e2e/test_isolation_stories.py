"""Isolation across stories over real gRPC: no read RPC ever serves another story's data."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import link_story, project_and_epic
from tests.e2e.scenario import ROLES, SeededStory, build_story, change, response_strings
from tests.support.harness import Service, running_service

# Ids that prefix one another, in two project-like families.
STORY_IDS = ["S-1", "S-10", "S-1-a", "P2-S-1", "P2-S-10", "P2-S-1-a"]
PROJECTS = {"PRJ-ONE": STORY_IDS[:3], "PRJ-TWO": STORY_IDS[3:]}
READ_PAIRS = [
    ("architect", "DESIGN"),
    ("developer", "DESIGN"),
    ("devops", "DESIGN"),
    ("data", "DESIGN"),
    ("developer", "BUILD"),
    ("qa", "BUILD"),
    ("qa", "TEST"),
    ("architect", "DOC"),
]
CONTEXT_CASES = [(s, r, p) for s in STORY_IDS for r, p in READ_PAIRS]
CONTEXT_IDS = [f"{s}-{r}-{p}" for s, r, p in CONTEXT_CASES]

Stories = dict[str, SeededStory]


def mentions(text: str, ident: str) -> bool:
    """True when `ident` occurs as a whole id (`S-1` does not occur in `S-10` or `S-1-a`)."""
    return re.search(rf"(?<![\w-]){re.escape(ident)}(?![\w-])", text) is not None


def foreign_leaks(message: Message, own: str, stories: Stories) -> list[str]:
    """Markers and ids of stories other than `own` found anywhere in `message`."""
    strings = response_strings(message)
    leaks: list[str] = []
    for story_id, story in stories.items():
        if story_id == own:
            continue
        leaks += [m for m in story.markers() if any(m in s for s in strings)]
        leaks += [story.tag for s in strings if story.tag in s][:1]
        for ident in (story_id, *story.entity_ids()):
            leaks += [ident for s in strings if mentions(s, ident)][:1]
    return leaks


async def link_projects(svc: Service) -> None:
    """Project -> epic -> story, one epic per story (the planning events' hierarchy)."""
    for project_id, story_ids in PROJECTS.items():
        for n, story_id in enumerate(story_ids):
            epic_id = f"{project_id}-EPIC-{n}"
            await project_and_epic(svc, project_id, epic_id, title=f"Epic {n} of {project_id}")
            await link_story(svc, epic_id, story_id)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world() -> AsyncIterator[tuple[Service, Stories]]:
    """One service holding every story of both families, shared by the module (read-only tests)."""
    async with running_service() as svc:
        stories = {story_id: await build_story(svc, story_id) for story_id in STORY_IDS}
        await link_projects(svc)
        yield svc, stories


@pytest.mark.parametrize(("story_id", "role", "phase"), CONTEXT_CASES, ids=CONTEXT_IDS)
async def test_get_context_never_serves_another_storys_entities(
    world: tuple[Service, Stories], story_id: str, role: str, phase: str
) -> None:
    svc, stories = world

    response = await svc.stub.GetContext(pb.GetContextRequest(story_id=story_id, role=role, phase=phase))

    assert stories[story_id].tag in response.context
    assert foreign_leaks(response, story_id, stories) == []


@pytest.mark.parametrize("story_id", STORY_IDS)
async def test_get_context_with_a_subtask_focus_never_serves_another_storys_entities(
    world: tuple[Service, Stories], story_id: str
) -> None:
    svc, stories = world
    focus = stories[story_id].tasks_of("developer")[1].task_id

    response = await svc.stub.GetContext(
        pb.GetContextRequest(story_id=story_id, role="developer", phase="BUILD", subtask_id=focus)
    )

    assert f"Current subtask: {focus} —" in response.context
    assert foreign_leaks(response, story_id, stories) == []


@pytest.mark.parametrize("story_id", STORY_IDS)
async def test_rehydrate_session_never_serves_another_storys_entities(
    world: tuple[Service, Stories], story_id: str
) -> None:
    svc, stories = world
    request = pb.RehydrateSessionRequest(
        case_id=story_id, roles=list(ROLES), include_timeline=True, include_summaries=True
    )

    response = await svc.stub.RehydrateSession(request)

    assert sorted(response.packs) == sorted(ROLES)
    assert foreign_leaks(response, story_id, stories) == []


@pytest.mark.parametrize("story_id", STORY_IDS)
async def test_rehydrate_session_serves_exactly_the_storys_own_tasks_and_decisions(
    world: tuple[Service, Stories], story_id: str
) -> None:
    svc, stories = world
    story = stories[story_id]
    request = pb.RehydrateSessionRequest(case_id=story_id, roles=list(ROLES), include_timeline=True)

    response = await svc.stub.RehydrateSession(request)

    served_tasks = {t.subtask_id for pack in response.packs.values() for t in pack.subtasks}
    served_decisions = {d.id for d in response.packs["architect"].decisions}
    assert served_tasks == {t.task_id for t in story.tasks}
    assert served_decisions == {d.decision_id for d in story.decisions}
    assert response.stats.decisions == len(story.decisions)
    assert response.stats.decision_edges == len(story.decision_edges)


@pytest.mark.parametrize("story_id", STORY_IDS)
async def test_graph_relationships_from_a_story_never_reach_another_storys_entities(
    world: tuple[Service, Stories], story_id: str
) -> None:
    svc, stories = world

    response = await svc.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id=story_id, node_type="Story", depth=3)
    )

    assert {t.task_id for t in stories[story_id].tasks} <= {n.id for n in response.neighbors}
    assert foreign_leaks(response, story_id, stories) == []


@pytest.mark.parametrize("story_id", STORY_IDS)
async def test_graph_relationships_from_a_task_never_reach_another_storys_entities(
    world: tuple[Service, Stories], story_id: str
) -> None:
    svc, stories = world
    task_id = stories[story_id].tasks_of("qa")[0].task_id

    response = await svc.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id=task_id, node_type="Task", depth=3)
    )

    assert response.node.id == task_id
    assert foreign_leaks(response, story_id, stories) == []


@pytest.mark.parametrize(("story_id", "other_id"), [("S-1", "S-10"), ("S-10", "S-1"), ("S-1", "S-1-a")])
async def test_focusing_on_another_storys_task_is_not_found(
    world: tuple[Service, Stories], story_id: str, other_id: str
) -> None:
    svc, stories = world
    foreign_task = stories[other_id].tasks_of("developer")[0].task_id
    request = pb.GetContextRequest(
        story_id=story_id, role="developer", phase="BUILD", subtask_id=foreign_task
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await svc.stub.GetContext(request)

    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_updating_another_storys_task_is_rejected_and_leaves_it_unchanged(service: Service) -> None:
    one = await build_story(service, "S-1")
    await build_story(service, "S-10")
    victim = one.tasks_of("developer")[0]
    hijack = change("UPDATE", "SUBTASK", victim.task_id, {"title": "hijacked-title", "status": "DONE"})

    response = await service.stub.UpdateContext(pb.UpdateContextRequest(story_id="S-10", changes=[hijack]))

    assert [w for w in response.warnings if victim.task_id in w and "belongs to story 'S-1'" in w]
    context = await service.stub.GetContext(
        pb.GetContextRequest(story_id="S-1", role="developer", phase="BUILD")
    )
    assert f"- {victim.task_id} [PENDING] {victim.title}" in context.context
    assert "hijacked-title" not in context.context


async def test_a_decision_cannot_influence_another_storys_task(service: Service) -> None:
    one = await build_story(service, "S-1")
    await build_story(service, "S-10")
    foreign_task = one.tasks_of("qa")[0].task_id
    request = pb.AddProjectDecisionRequest(
        story_id="S-10", decision_type="TESTING", title="cross-story", metadata={"task_ids": foreign_task}
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.stub.AddProjectDecision(request)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_task_naming_another_storys_plan_is_never_reachable_from_that_story(service: Service) -> None:
    one = await build_story(service, "S-1")
    ten = await build_story(service, "S-10")
    payload = {"title": "stray-title", "role": "developer", "plan_id": one.plan_id, "decided_by": "planner"}
    await service.stub.UpdateContext(
        pb.UpdateContextRequest(story_id="S-10", changes=[change("CREATE", "SUBTASK", "S-10-STRAY", payload)])
    )

    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id="S-1", node_type="Story", depth=3)
    )

    reached = {n.id for n in response.neighbors}
    assert reached & {"S-10", "S-10-STRAY", *ten.entity_ids()} == set()
