"""The demo project `make run` serves: a project, an epic, two stories, every role, decisions, milestones."""

from __future__ import annotations

import json

from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.application.add_project_decision import DecisionRequest
from context_service.application.create_story import StoryRequest
from context_service.application.create_task import TaskRequest
from context_service.application.record_epic import EpicCreated
from context_service.application.record_project import ProjectCreated
from context_service.application.update_context import UpdateRequest
from context_service.bootstrap import Container
from context_service.domain.changes import RawChange
from context_service.domain.model import Milestone

PROJECT, EPIC = "PRJ-DEMO", "EPIC-CHECKOUT"
STORY_A, STORY_B = "US-101", "US-102"

TASKS_A = [
    ("T-101-ARCH", "Design the payment gateway boundary", "architect", (), 1),
    ("T-101-API", "Implement POST /checkout", "developer", ("T-101-ARCH",), 1),
    ("T-101-DB", "Add orders table migration", "data", ("T-101-ARCH",), 2),
    ("T-101-DEPLOY", "Canary rollout for checkout-api", "devops", ("T-101-API",), 2),
    ("T-101-QA", "Contract tests for checkout", "qa", ("T-101-API",), 3),
]
TASKS_B = [
    ("T-102-UI", "Render order summary", "developer", (), 1),
    ("T-102-E2E", "End-to-end order summary test", "qa", ("T-102-UI",), 2),
]


async def seed_demo(container: Container) -> None:
    """Idempotently load the demo project through the same use cases the RPCs use."""
    uc = container.use_cases
    await uc.record_project.execute(
        ProjectCreated(PROJECT, "Demo shop", "A small web shop", owner="po@example.com")
    )
    await uc.record_epic.execute(EpicCreated(EPIC, PROJECT, "Checkout", "Customers can pay for their cart"))
    for story_id, title, phase in (
        (STORY_A, "Checkout API", "BUILD"),
        (STORY_B, "Order summary page", "DESIGN"),
    ):
        await uc.create_story.execute(
            StoryRequest(story_id, title, f"{title} for the demo shop.", phase, "planner", epic_id=EPIC)
        )
    for story_id, tasks in ((STORY_A, TASKS_A), (STORY_B, TASKS_B)):
        for task_id, title, role, deps, priority in tasks:
            await uc.create_task.execute(
                TaskRequest(
                    story_id, task_id, title, f"{title} ({role}).", role, deps, priority, priority * 4
                )
            )
    seeded = await container.adapters.graph.load_story_graph(STORY_A)
    if seeded is None or not seeded.decisions:
        await _decisions_and_milestones(container)


async def _decisions_and_milestones(container: Container) -> None:
    uc = container.use_cases
    gateway = await uc.add_project_decision.execute(
        DecisionRequest(
            STORY_A,
            "ARCHITECTURE",
            "Use an outbound payment gateway adapter",
            "Keeps card data out of our services (PCI scope).",
            "Direct PSP SDK calls in the API",
            {"role": "architect", "task_ids": "T-101-API,T-101-DEPLOY"},
        )
    )
    idempotent = await uc.add_project_decision.execute(
        DecisionRequest(
            STORY_A,
            "IMPLEMENTATION",
            "Idempotency keys on POST /checkout",
            "Retries from mobile clients must not double-charge.",
            "",
            {"role": "developer", "task_ids": "T-101-API"},
        )
    )
    await uc.add_project_decision.execute(
        DecisionRequest(
            STORY_A,
            "TESTING",
            "Contract tests against the gateway sandbox",
            "Catches schema drift early.",
            "Mocks only",
            {"winner": "qa", "task_ids": "T-101-QA"},
        )
    )
    changes = (
        RawChange(
            "UPDATE", "DECISION", idempotent, json.dumps({"depends_on": [gateway]}), "builds on the adapter"
        ),
        RawChange(
            "CREATE",
            "PLAN",
            "PLAN-101",
            json.dumps({"version": 1, "status": "APPROVED", "rationale": "API first, then rollout"}),
            "plan approved",
        ),
        RawChange(
            "CREATE",
            "MILESTONE",
            "M-101-1",
            json.dumps(
                {
                    "event_type": "design_review",
                    "description": "Gateway boundary reviewed",
                    "actor": "architect",
                    "timestamp": "2026-11-02T10:00:00Z",
                }
            ),
            "review done",
        ),
        RawChange("UPDATE", "SUBTASK", "T-101-ARCH", json.dumps({"status": "DONE"}), "design finished"),
    )
    await uc.update_context.execute(UpdateRequest(STORY_A, "T-101-ARCH", "architect", changes))
    await _seed_planning(container.adapters.planning)


async def _seed_planning(planning: object) -> None:
    """What the planning service would have written: summaries and a planning stream event.

    Seeding is not part of the service's ports (other services write these read-models), so only the stores
    the service ships are seeded.
    """
    if not isinstance(planning, InMemoryPlanningStore | ValkeyPlanningStore):
        return
    await planning.put_summary(
        STORY_A, "Gateway boundary agreed; API work started; rollout waits on the API."
    )
    await planning.put_summary(STORY_A, "POST /checkout skeleton exists; idempotency next.", role="developer")
    await planning.append_planning_event(
        STORY_A, Milestone("plan_approved", "Plan PLAN-101 approved", 1_793_613_600_000, "planner")
    )
