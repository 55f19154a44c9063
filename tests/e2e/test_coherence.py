"""Coherence over real gRPC: what the write RPCs store is exactly what the read RPCs serve."""

from __future__ import annotations

import json
from datetime import datetime

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.scenario import apply_changes, change
from tests.support.harness import Service

STORY = "COH-1"


async def create_story(service: Service, phase: str = "BUILD") -> None:
    """The story every test writes into."""
    await service.stub.CreateStory(
        pb.CreateStoryRequest(
            story_id=STORY, title="Checkout flow", description="Let buyers pay by card", initial_phase=phase
        )
    )


async def create_two_tasks(service: Service) -> None:
    """T-1 and T-2 (developer), T-2 depending on T-1."""
    await service.stub.CreateTask(
        pb.CreateTaskRequest(
            story_id=STORY, task_id="T-1", title="Card form", description="Render the form", role="developer"
        )
    )
    await service.stub.CreateTask(
        pb.CreateTaskRequest(
            story_id=STORY,
            task_id="T-2",
            title="Charge the card",
            description="Call the payment gateway",
            role="developer",
            dependencies=["T-1"],
            priority=2,
        )
    )


async def context(service: Service, role: str, phase: str) -> str:
    """The context block served to a role in a phase."""
    response = await service.stub.GetContext(pb.GetContextRequest(story_id=STORY, role=role, phase=phase))
    return response.blocks.context


async def pack(service: Service, role: str) -> pb.RoleContextPack:
    """The role's RehydrateSession pack, timeline included."""
    response = await service.stub.RehydrateSession(
        pb.RehydrateSessionRequest(case_id=STORY, roles=[role], include_timeline=True, include_summaries=True)
    )
    return response.packs[role]


def section(block: str, heading: str) -> list[str]:
    """The lines of one section, heading included, up to the blank line that ends it."""
    lines = block.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


async def test_created_story_is_served_in_the_case_header(service: Service) -> None:
    await create_story(service)

    served = await pack(service, "developer")

    header = served.case_header
    assert (header.case_id, header.title, header.description, header.status) == (
        STORY,
        "Checkout flow",
        "Let buyers pay by card",
        "ACTIVE",
    )
    assert datetime.fromisoformat(header.created_at.replace("Z", "+00:00")).tzinfo is not None


async def test_created_tasks_are_served_identically_by_rehydrate_session(service: Service) -> None:
    await create_story(service)

    await create_two_tasks(service)

    served = await pack(service, "developer")
    assert [
        (t.subtask_id, t.title, t.description, t.role, t.status, list(t.dependencies), t.priority)
        for t in served.subtasks
    ] == [
        ("T-2", "Charge the card", "Call the payment gateway", "developer", "PENDING", ["T-1"], 2),
        ("T-1", "Card form", "Render the form", "developer", "PENDING", [], 0),
    ]


async def test_created_task_is_served_identically_in_the_all_subtasks_section(service: Service) -> None:
    await create_story(service)

    await create_two_tasks(service)

    assert section(await context(service, "architect", "BUILD"), "All subtasks:") == [
        "All subtasks:",
        "- T-2 [PENDING] Charge the card (role: developer; priority: 2; depends on: T-1)",
        "  Call the payment gateway",
        "- T-1 [PENDING] Card form (role: developer)",
        "  Render the form",
    ]


async def test_created_task_is_a_task_graph_node_with_its_fields_and_depends_on_edge(
    service: Service,
) -> None:
    await create_story(service)

    await create_two_tasks(service)

    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id="T-2", node_type="Task", depth=1)
    )
    node = response.node
    assert (node.id, node.type, node.title) == ("T-2", "Task", "Charge the card")
    assert {k: node.properties[k] for k in ("title", "description", "role", "priority", "status")} == {
        "title": "Charge the card",
        "description": "Call the payment gateway",
        "role": "developer",
        "priority": "2",
        "status": "PENDING",
    }
    assert ("T-2", "T-1") in {
        (r.from_node_id, r.to_node_id) for r in response.relationships if r.type == "DEPENDS_ON"
    }


async def test_subtask_created_through_update_context_is_served_like_a_created_task(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)
    payload = {
        "title": "Send receipt",
        "description": "Email the buyer",
        "role": " DEV ",
        "priority": 1,
        "dependencies": ["T-2"],
    }

    await apply_changes(service, STORY, change("CREATE", "SUBTASK", "T-3", payload))

    served = await pack(service, "developer")
    first = served.subtasks[0]
    assert (first.subtask_id, first.title, first.description, first.role, first.priority) == (
        "T-3",
        "Send receipt",
        "Email the buyer",
        "developer",
        1,
    )
    assert (first.status, list(first.dependencies)) == ("PENDING", ["T-2"])
    assert "- T-3 [PENDING] Send receipt (role: developer; priority: 1; depends on: T-2)" in (
        await context(service, "architect", "BUILD")
    )


async def test_decision_fields_appear_in_the_decisions_section(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)

    added = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id=STORY,
            decision_type="architecture",
            title="Use a payment gateway",
            rationale="Card data never touches our servers",
            alternatives_considered="Build our own processor",
            metadata={"role": "architect", "risk": "low", "task_ids": "T-2"},
        )
    )

    decided_at = (await pack(service, "architect")).decisions[0].decided_at
    assert section(await context(service, "architect", "DESIGN"), "Decisions:") == [
        "Decisions:",
        f"- {added.decision_id} [ACCEPTED] Use a payment gateway "
        f"(ARCHITECTURE; decided by architect; on {decided_at})",
        "  Rationale: Card data never touches our servers",
        "  Alternatives: Build our own processor",
        "  Metadata: risk=low; role=architect; task_ids=T-2",
    ]


async def test_decision_fields_are_served_identically_by_rehydrate_session(service: Service) -> None:
    await create_story(service)

    added = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id=STORY,
            decision_type="ARCHITECTURE",
            title="Use a payment gateway",
            rationale="Card data never touches our servers",
            metadata={"winner": "architect"},
        )
    )

    decision = (await pack(service, "architect")).decisions[0]
    assert (decision.id, decision.title, decision.rationale, decision.status, decision.decided_by) == (
        added.decision_id,
        "Use a payment gateway",
        "Card data never touches our servers",
        "ACCEPTED",
        "architect",
    )
    assert datetime.fromisoformat(decision.decided_at.replace("Z", "+00:00")).tzinfo is not None


async def test_decision_is_a_decision_graph_node_with_every_field(service: Service) -> None:
    await create_story(service)
    added = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id=STORY,
            decision_type="SECURITY",
            title="Tokenise cards",
            rationale="PCI scope",
            alternatives_considered="Encrypt at rest",
            metadata={"risk": "high"},
        )
    )

    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id=STORY, node_type="Story", depth=1)
    )

    node = next(n for n in response.neighbors if n.id == added.decision_id)
    assert (node.type, node.title) == ("Decision", "Tokenise cards")
    props = node.properties
    assert (props["rationale"], props["decision_type"], props["alternatives_considered"]) == (
        "PCI scope",
        "SECURITY",
        "Encrypt at rest",
    )
    assert json.loads(props["metadata"]) == {"risk": "high"}


async def test_decision_written_through_update_context_is_served_with_every_field(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)
    payload = {
        "title": "Retry declined charges once",
        "rationale": "Transient declines are common",
        "status": "accepted",
        "decision_type": "implementation",
        "alternatives_considered": "Never retry",
        "decided_by": "developer",
        "decided_at": "2026-10-05T10:00:00Z",
        "metadata": {"owner": "payments"},
        "task_ids": ["T-2"],
    }

    await apply_changes(service, STORY, change("CREATE", "DECISION", "DEC-RETRY", payload))

    assert section(await context(service, "developer", "DESIGN"), "Relevant decisions:") == [
        "Relevant decisions:",
        "- DEC-RETRY [ACCEPTED] Retry declined charges once "
        "(IMPLEMENTATION; decided by developer; on 2026-10-05T10:00:00Z)",
        "  Rationale: Transient declines are common",
        "  Alternatives: Never retry",
        "  Metadata: owner=payments",
    ]
    decision = (await pack(service, "developer")).decisions[0]
    assert (decision.id, decision.title, decision.rationale, decision.status) == (
        "DEC-RETRY",
        "Retry declined charges once",
        "Transient declines are common",
        "ACCEPTED",
    )
    assert (decision.decided_by, decision.decided_at) == ("developer", "2026-10-05T10:00:00Z")


async def test_decision_task_ids_link_the_decision_to_those_tasks(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)

    added = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(story_id=STORY, title="Gateway", metadata={"task_ids": "T-1, T-2"})
    )

    served = await pack(service, "developer")
    assert [(i.decision_id, i.subtask_id, i.title) for i in served.impacted] == [
        (added.decision_id, "T-1", "Card form"),
        (added.decision_id, "T-2", "Charge the card"),
    ]
    dependencies = section(await context(service, "developer", "BUILD"), "Dependencies:")
    assert f"- T-1 influenced by {added.decision_id}" in dependencies
    assert f"- T-2 influenced by {added.decision_id}" in dependencies


async def test_decision_dependency_written_through_update_context_is_served_everywhere(
    service: Service,
) -> None:
    await create_story(service)
    first = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(story_id=STORY, title="Gateway")
    )
    second = await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(story_id=STORY, title="Retries")
    )

    await apply_changes(
        service, STORY, change("UPDATE", "DECISION", second.decision_id, {"depends_on": [first.decision_id]})
    )

    deps = (await pack(service, "architect")).decision_deps
    assert [(d.src_id, d.dst_id, d.relation_type) for d in deps] == [
        (second.decision_id, first.decision_id, "DEPENDS_ON")
    ]
    assert section(await context(service, "architect", "DESIGN"), "Decision dependencies:") == [
        "Decision dependencies:",
        f"- {second.decision_id} DEPENDS_ON {first.decision_id}",
    ]


async def test_marking_a_subtask_done_updates_the_plan_progress(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)
    before = (await pack(service, "developer")).plan_header

    await apply_changes(service, STORY, change("UPDATE", "SUBTASK", "T-1", {"status": "done"}))

    after = (await pack(service, "developer")).plan_header
    assert (before.total_subtasks, before.completed_subtasks) == (2, 0)
    assert (after.total_subtasks, after.completed_subtasks) == (2, 1)
    block = await context(service, "architect", "BUILD")
    assert section(block, "Plan:")[0] == "Plan: none · 1/2 subtasks done"
    assert "- T-1 [DONE] Card form (role: developer)" in block


async def test_plan_written_through_update_context_is_served_in_both_read_paths(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)

    await apply_changes(
        service,
        STORY,
        change(
            "CREATE", "PLAN", "PLAN-7", {"version": 3, "status": "approved", "rationale": "Ship in two steps"}
        ),
    )

    header = (await pack(service, "developer")).plan_header
    assert (header.plan_id, header.version, header.status, header.total_subtasks) == (
        "PLAN-7",
        3,
        "APPROVED",
        2,
    )
    assert section(await context(service, "developer", "BUILD"), "Plan:") == [
        "Plan: PLAN-7 v3 · status APPROVED · 0/2 subtasks done",
        "Rationale: Ship in two steps",
    ]


async def test_milestone_written_through_update_context_is_served_in_both_read_paths(
    service: Service,
) -> None:
    await create_story(service)
    milestone = {
        "event_type": "demo",
        "description": "Demoed to the buyer team",
        "actor": "qa-lead",
        "timestamp": "2026-10-03T15:30:00Z",
    }

    await apply_changes(service, STORY, change("CREATE", "MILESTONE", "M-1", milestone))

    served = (await pack(service, "qa")).milestones
    assert [(m.event_type, m.description, m.actor, m.ts_ms) for m in served] == [
        ("demo", "Demoed to the buyer team", "qa-lead", 1_791_041_400_000)
    ]
    assert section(await context(service, "qa", "BUILD"), "Milestones:") == [
        "Milestones:",
        "- 2026-10-03T15:30:00.000Z demo: Demoed to the buyer team (qa-lead)",
    ]


async def test_transition_phase_changes_the_phase_shown_in_the_case_section(service: Service) -> None:
    await create_story(service, phase="BUILD")
    before = section(await context(service, "developer", "BUILD"), "Case:")

    transitioned = await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(
            story_id=STORY, from_phase="BUILD", to_phase="test", rationale="Code complete"
        )
    )

    after = section(await context(service, "developer", "BUILD"), "Case:")
    assert before[1] == "Status: ACTIVE · Phase: BUILD"
    assert transitioned.current_phase == "TEST"
    assert after[1] == "Status: ACTIVE · Phase: TEST"


async def test_transition_phase_is_served_as_a_timeline_event(service: Service) -> None:
    await create_story(service, phase="BUILD")

    transitioned = await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(
            story_id=STORY, from_phase="BUILD", to_phase="TEST", rationale="Code complete"
        )
    )

    milestones = section(await context(service, "qa", "TEST"), "Milestones:")
    assert milestones[1:] == [
        f"- {transitioned.transitioned_at} phase_transition: BUILD -> TEST: Code complete"
    ]


async def test_case_update_changes_the_title_and_description_served(service: Service) -> None:
    await create_story(service)

    await apply_changes(
        service,
        STORY,
        change("UPDATE", "CASE", STORY, {"title": "Checkout v2", "description": "Add wallets"}),
    )

    response = await service.stub.GetContext(
        pb.GetContextRequest(story_id=STORY, role="developer", phase="BUILD")
    )
    assert section(response.blocks.context, "Case:") == [
        f"Case: {STORY} — Checkout v2",
        "Status: ACTIVE · Phase: BUILD",
        "Description: Add wallets",
    ]
    assert "working on case 'Checkout v2'" in response.blocks.system
    header = (await pack(service, "developer")).case_header
    assert (header.title, header.description) == ("Checkout v2", "Add wallets")


async def test_deleted_subtask_is_no_longer_served(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)

    await apply_changes(service, STORY, change("DELETE", "SUBTASK", "T-2", {}))

    served = await pack(service, "developer")
    assert [t.subtask_id for t in served.subtasks] == ["T-1"]
    assert served.plan_header.total_subtasks == 1
    assert "Charge the card" not in await context(service, "architect", "BUILD")


async def test_replacing_a_tasks_dependencies_is_served_everywhere(service: Service) -> None:
    await create_story(service)
    await create_two_tasks(service)

    await apply_changes(service, STORY, change("UPDATE", "SUBTASK", "T-2", {"dependencies": []}))

    served = await pack(service, "developer")
    assert [list(t.dependencies) for t in served.subtasks] == [[], []]
    response = await service.stub.GetGraphRelationships(
        pb.GetGraphRelationshipsRequest(node_id="T-2", node_type="Task", depth=1)
    )
    assert [r for r in response.relationships if r.type == "DEPENDS_ON"] == []
    assert "- T-2 [PENDING] Charge the card (role: developer; priority: 2)" in (
        await context(service, "architect", "BUILD")
    )
