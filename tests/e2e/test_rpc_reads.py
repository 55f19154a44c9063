"""Read RPCs over real gRPC: GetGraphRelationships, ValidateScope, RehydrateSession (02 §2.3, §2.5)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from context_service.domain.model import Milestone
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import (
    STORY_ID,
    add_decision,
    change,
    create_story,
    create_task,
    link_story,
    project_and_epic,
    rehydrate,
    subtask_ids,
    update,
)
from tests.support.harness import Service

SIGNUP_STORY = "STORY-SIGNUP-7"
DEPTH_1 = {"T-3", STORY_ID}
DEPTH_2 = DEPTH_1 | {"T-1", "T-2", "EPIC-LOGIN"}
DEPTH_3 = DEPTH_2 | {"PRJ-AUTH", SIGNUP_STORY}
BUILD_DEVELOPER = ["CASE_HEADER", "PLAN_HEADER", "SUBTASKS_ROLE", "DECISIONS_RELEVANT_ROLE", "DEPS_RELEVANT"]


async def chain_graph(service: Service) -> None:
    """PRJ-AUTH -> EPIC-LOGIN -> both stories; T-1 <- T-2 <- T-3 <- T-4 in the login story.

    From T-4 every depth reaches one more ring: 1 = {T-3, story}, 2 adds T-1, T-2 and the epic,
    3 adds the project and the sibling story, 4 would add the sibling story's task.
    """
    await project_and_epic(service, "PRJ-AUTH", "EPIC-LOGIN", title="Login revamp")
    await create_story(service)
    await create_story(service, SIGNUP_STORY, title="Self-service signup")
    await link_story(service, "EPIC-LOGIN", STORY_ID)
    await link_story(service, "EPIC-LOGIN", SIGNUP_STORY)
    await create_task(service, "T-1")
    await create_task(service, "T-2", dependencies=["T-1"])
    await create_task(service, "T-3", dependencies=["T-2"])
    await create_task(service, "T-4", dependencies=["T-3"])
    await create_task(service, "T-SIGNUP-1", story_id=SIGNUP_STORY)


async def neighbour_ids(
    service: Service, depth: int, node_id: str = "T-4", node_type: str = "Task"
) -> set[str]:
    """Ids of the neighbours GetGraphRelationships returns."""
    request = pb.GetGraphRelationshipsRequest(node_id=node_id, node_type=node_type, depth=depth)
    response = await service.stub.GetGraphRelationships(request)
    return {n.id for n in response.neighbors}


# GetGraphRelationships


async def test_story_relationships_return_the_node_its_tasks_and_the_edges(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await create_task(service, "T-2", dependencies=["T-1"])

    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id=STORY_ID, node_type="Story", depth=1)
    )

    assert response.success
    assert (response.node.id, response.node.type, response.node.title) == (
        STORY_ID,
        "Story",
        "Passwordless login",
    )
    assert response.node.properties["current_phase"] == "DESIGN"
    assert {(n.id, n.type) for n in response.neighbors} == {("T-1", "Task"), ("T-2", "Task")}
    edges = {(r.from_node_id, r.type, r.to_node_id) for r in response.relationships}
    assert edges == {
        (STORY_ID, "HAS_TASK", "T-1"),
        (STORY_ID, "HAS_TASK", "T-2"),
        ("T-2", "DEPENDS_ON", "T-1"),
    }


async def test_epic_relationships_return_its_project_and_stories(service: Service) -> None:
    await chain_graph(service)

    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id="EPIC-LOGIN", node_type="Epic", depth=1)
    )

    assert (response.node.type, response.node.title) == ("Epic", "Login revamp")
    assert {(n.id, n.type) for n in response.neighbors} == {
        ("PRJ-AUTH", "Project"),
        (STORY_ID, "Story"),
        (SIGNUP_STORY, "Story"),
    }


@pytest.mark.parametrize("node_type", ["task", " TASK "])
async def test_node_type_is_case_insensitive(service: Service, node_type: str) -> None:
    await chain_graph(service)

    found = await neighbour_ids(service, 1, node_type=node_type)

    assert found == DEPTH_1


async def test_depth_zero_defaults_to_two(service: Service) -> None:
    await chain_graph(service)

    found = await neighbour_ids(service, 0)

    assert found == await neighbour_ids(service, 2) == DEPTH_2


async def test_depth_above_three_is_clamped_to_three(service: Service) -> None:
    await chain_graph(service)

    found = await neighbour_ids(service, 7)

    assert found == await neighbour_ids(service, 3) == DEPTH_3
    assert "T-SIGNUP-1" not in found


async def test_negative_depth_is_clamped_to_one(service: Service) -> None:
    await chain_graph(service)

    found = await neighbour_ids(service, -1)

    assert found == await neighbour_ids(service, 1) == DEPTH_1


# ValidateScope


async def validate(
    service: Service, scopes: list[str], role: str = "developer", phase: str = "BUILD"
) -> tuple:
    """ValidateScope as a comparable tuple (allowed, missing, extra, reason)."""
    response = await service.stub.ValidateScope(
        pb.ValidateScopeRequest(role=role, phase=phase, provided_scopes=scopes)
    )
    return (response.allowed, list(response.missing), list(response.extra), response.reason)


async def test_exact_scopes_are_allowed(service: Service) -> None:
    verdict = await validate(service, list(reversed(BUILD_DEVELOPER)))

    assert verdict == (True, [], [], "All scopes are allowed")


async def test_scope_roles_and_phases_are_normalised(service: Service) -> None:
    verdict = await validate(service, BUILD_DEVELOPER, role=" DEV ", phase="build")

    assert verdict == (True, [], [], "All scopes are allowed")


async def test_duplicate_and_padded_scopes_are_trimmed_before_comparing(service: Service) -> None:
    verdict = await validate(service, [f" {s} " for s in BUILD_DEVELOPER] + ["CASE_HEADER", " "])

    assert verdict == (True, [], [], "All scopes are allowed")


async def test_missing_scopes_are_sorted_and_named(service: Service) -> None:
    verdict = await validate(service, ["SUBTASKS_ROLE", "CASE_HEADER", "DEPS_RELEVANT"])

    assert verdict == (
        False,
        ["DECISIONS_RELEVANT_ROLE", "PLAN_HEADER"],
        [],
        "Missing required scopes: DECISIONS_RELEVANT_ROLE, PLAN_HEADER",
    )


async def test_extra_scopes_are_sorted_and_named(service: Service) -> None:
    verdict = await validate(service, [*BUILD_DEVELOPER, "SUMMARY_LAST", "MILESTONES"])

    assert verdict == (
        False,
        [],
        ["MILESTONES", "SUMMARY_LAST"],
        "Extra scopes not allowed: MILESTONES, SUMMARY_LAST",
    )


async def test_missing_and_extra_reasons_are_joined_by_a_semicolon(service: Service) -> None:
    verdict = await validate(
        service, ["CASE_HEADER", "PLAN_HEADER", "SUBTASKS_ROLE", "DEPS_RELEVANT", "MILESTONES"]
    )

    assert verdict == (
        False,
        ["DECISIONS_RELEVANT_ROLE"],
        ["MILESTONES"],
        "Missing required scopes: DECISIONS_RELEVANT_ROLE; Extra scopes not allowed: MILESTONES",
    )


@pytest.mark.parametrize(
    ("role", "phase", "named"),
    [("wizard", "BUILD", "wizard"), ("developer", "LAUNCH", "LAUNCH"), ("developer", "DOC", "developer")],
    ids=["unknown-role", "unknown-phase", "pair-without-policy"],
)
async def test_unvalidatable_scopes_are_refused_without_an_rpc_error(
    service: Service, role: str, phase: str, named: str
) -> None:
    allowed, missing, extra, reason = await validate(
        service, ["PLAN_HEADER", " CASE_HEADER", "CASE_HEADER"], role=role, phase=phase
    )

    assert (allowed, missing, extra) == (False, [], ["CASE_HEADER", "PLAN_HEADER"])
    assert named in reason


# RehydrateSession


async def test_packs_are_keyed_by_the_normalised_role(service: Service) -> None:
    await create_story(service)

    response = await rehydrate(service, "DEV", " Architect ", "tester")

    assert response.case_id == STORY_ID
    assert set(response.packs) == {"developer", "architect", "qa"}
    assert all(key == pack.role for key, pack in response.packs.items())


async def test_case_header_describes_the_story(service: Service) -> None:
    await create_story(service)

    header = (await rehydrate(service, "developer")).packs["developer"].case_header

    assert (header.case_id, header.title, header.description, header.status) == (
        STORY_ID,
        "Passwordless login",
        "Let users sign in with a magic link.",
        "ACTIVE",
    )
    assert datetime.fromisoformat(header.created_at).utcoffset() == timedelta(0)


async def test_plan_header_reports_the_latest_plan_and_counts_done_and_completed(service: Service) -> None:
    await create_story(service)
    for task_id in ("T-1", "T-2", "T-3", "T-4"):
        await create_task(service, task_id)
    await update(
        service,
        change("CREATE", "PLAN", "PLAN-1", {"version": 1, "status": "SUPERSEDED"}),
        change("CREATE", "PLAN", "PLAN-2", {"version": 2, "status": "APPROVED"}),
        change("UPDATE", "SUBTASK", "T-1", {"status": "DONE"}),
        change("UPDATE", "SUBTASK", "T-2", {"status": "completed"}),
        change("UPDATE", "SUBTASK", "T-3", {"status": "IN_PROGRESS"}),
    )

    header = (await rehydrate(service, "qa")).packs["qa"].plan_header

    assert (header.plan_id, header.version, header.status) == ("PLAN-2", 2, "APPROVED")
    assert (header.total_subtasks, header.completed_subtasks) == (4, 2)


async def test_subtasks_are_the_roles_own_ordered_by_priority_then_id(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-B", priority=2)
    await create_task(service, "T-UNSET")
    await create_task(service, "T-A", priority=2)
    await create_task(service, "T-Z", priority=1)
    await create_task(service, "T-QA", role="qa", priority=1)

    response = await rehydrate(service, "developer", "qa")

    assert subtask_ids(response.packs["developer"]) == ["T-Z", "T-A", "T-B", "T-UNSET"]
    assert subtask_ids(response.packs["qa"]) == ["T-QA"]


async def test_architect_and_qa_get_all_decisions_others_the_relevant_ones(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-DEV")
    await create_task(service, "T-OPS", role="devops")
    for_dev = await add_decision(service, title="Sign links", metadata={"task_ids": "T-DEV"})
    for_ops = await add_decision(service, title="Rate-limit mail", metadata={"task_ids": "T-OPS"})

    response = await rehydrate(service, "architect", "qa", "developer", "devops")

    decisions = {role: [d.id for d in pack.decisions] for role, pack in response.packs.items()}
    assert decisions == {
        "architect": [for_dev, for_ops],
        "qa": [for_dev, for_ops],
        "developer": [for_dev],
        "devops": [for_ops],
    }


async def test_a_role_without_influencing_decisions_falls_back_to_the_five_most_recent(
    service: Service,
) -> None:
    await create_story(service)
    created = [await add_decision(service, title=f"Decision {n}") for n in range(7)]

    pack = (await rehydrate(service, "developer")).packs["developer"]

    assert [d.id for d in pack.decisions] == created[2:]


async def test_timeline_defaults_to_the_latest_fifty_events_in_ascending_order(service: Service) -> None:
    await create_story(service)
    for n in range(60):
        await service.planning.append_planning_event(
            STORY_ID, Milestone("plan.step", f"step {n}", 1_793_534_500_000 + n, actor="planner")
        )

    response = await rehydrate(service, "qa", include_timeline=True)

    milestones = response.packs["qa"].milestones
    assert [m.description for m in milestones] == [f"step {n}" for n in range(10, 60)]
    assert response.stats.events == 50


async def test_timeline_events_limit_is_honoured(service: Service) -> None:
    await create_story(service)
    for n in range(5):
        await service.planning.append_planning_event(
            STORY_ID, Milestone("plan.step", f"step {n}", 1_793_534_500_000 + n, actor="planner")
        )

    response = await rehydrate(service, "qa", include_timeline=True, timeline_events=2)

    assert [(m.event_type, m.description, m.actor) for m in response.packs["qa"].milestones] == [
        ("plan.step", "step 3", "planner"),
        ("plan.step", "step 4", "planner"),
    ]
    assert response.stats.events == 2


async def test_timeline_includes_graph_milestones_and_phase_transitions(service: Service) -> None:
    await create_story(service)
    await update(service, change("CREATE", "MILESTONE", "M-1", {"event_type": "review", "description": "ok"}))
    await service.stub.TransitionPhase(pb.TransitionPhaseRequest(story_id=STORY_ID, to_phase="BUILD"))

    response = await rehydrate(service, "architect", include_timeline=True)

    events = [(m.event_type, m.description) for m in response.packs["architect"].milestones]
    assert events == [("review", "ok"), ("phase_transition", "DESIGN -> BUILD")]


async def test_without_include_timeline_there_are_no_milestones(service: Service) -> None:
    await create_story(service)
    await service.planning.append_planning_event(STORY_ID, Milestone("plan.step", "step", 1_793_534_500_000))

    response = await rehydrate(service, "qa", include_timeline=False, timeline_events=10)

    assert list(response.packs["qa"].milestones) == []
    assert response.stats.events == 0


async def test_summaries_prefer_the_role_summary_over_the_story_summary(service: Service) -> None:
    await create_story(service)
    await service.planning.put_summary(STORY_ID, "Story summary")
    await service.planning.put_summary(STORY_ID, "Developer summary", role="developer")

    response = await rehydrate(service, "developer", "qa", include_summaries=True)

    assert response.packs["developer"].last_summary == "Developer summary"
    assert response.packs["qa"].last_summary == "Story summary"


async def test_without_include_summaries_there_is_no_summary(service: Service) -> None:
    await create_story(service)
    await service.planning.put_summary(STORY_ID, "Story summary")

    response = await rehydrate(service, "developer")

    assert response.packs["developer"].last_summary == ""


async def test_token_budget_hint_grows_with_subtasks_and_decisions(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await create_task(service, "T-2")
    await add_decision(service, metadata={"task_ids": "T-1"})

    response = await rehydrate(service, "developer", "architect", "qa")

    hints = {role: pack.token_budget_hint for role, pack in response.packs.items()}
    assert hints == {"developer": 4096 + 2 * 256 + 128, "architect": 8192 + 128, "qa": 4096 + 128}


async def test_token_budget_hint_growth_is_capped_at_4096(service: Service) -> None:
    await create_story(service)
    for n in range(17):
        await create_task(service, f"T-{n:02d}")

    pack = (await rehydrate(service, "developer")).packs["developer"]

    assert len(pack.subtasks) == 17
    assert pack.token_budget_hint == 4096 + 4096


async def test_stats_count_the_whole_story_and_list_the_requested_roles(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")
    await create_task(service, "T-2", role="qa")
    first = await add_decision(service, metadata={"task_ids": "T-1,T-2"})
    await add_decision(service, title="Second")
    await update(
        service,
        change("CREATE", "DECISION", "DEC-LINK-1", {"title": "Builds on first", "depends_on": [first]}),
    )

    response = await rehydrate(service, "developer", "devops")

    stats = response.stats
    assert (stats.decisions, stats.decision_edges, stats.impacts) == (3, 1, 2)
    assert list(stats.roles) == ["developer", "devops"]


async def test_decision_deps_and_impacted_follow_the_selected_decisions(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1", title="Issue tokens")
    first = await add_decision(service, metadata={"task_ids": "T-1"})
    await update(
        service,
        change("CREATE", "DECISION", "DEC-LINK-1", {"title": "Builds on first", "depends_on": [first]}),
    )

    pack = (await rehydrate(service, "architect")).packs["architect"]

    assert [(e.src_id, e.dst_id, e.relation_type) for e in pack.decision_deps] == [
        ("DEC-LINK-1", first, "DEPENDS_ON")
    ]
    assert list(pack.impacted) == []


async def test_persist_bundle_stores_the_bundle_by_timestamp_and_as_latest(service: Service) -> None:
    await create_story(service)
    await create_task(service, "T-1")

    response = await rehydrate(service, "developer", persist_bundle=True)

    stamped = await service.planning.handoff(f"swe:case:{STORY_ID}:handoff:{response.generated_at_ms}")
    latest = await service.planning.handoff(f"swe:case:{STORY_ID}:handoff:latest")
    assert stamped is not None
    assert stamped == latest
    assert stamped["case_id"] == STORY_ID
    assert stamped["generated_at_ms"] == response.generated_at_ms
    assert list(stamped["packs"]) == ["developer"]


async def test_without_persist_bundle_nothing_is_stored(service: Service) -> None:
    await create_story(service)

    await rehydrate(service, "developer")

    assert await service.planning.handoff(f"swe:case:{STORY_ID}:handoff:latest") is None
