"""The data every backend is loaded with, and the scenarios measured on it."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.measure import Call
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

Stub = context_pb2_grpc.ContextServiceStub
ROLES = ("architect", "developer", "devops", "qa", "data")
MEDIUM, LARGE = "BENCH-M", "BENCH-L"
# Unique ids for the write scenarios, across backends and rounds.
_serial = itertools.count()


@dataclass(frozen=True)
class Scenario:
    """One RPC shape: `call(stub)` makes a request function; every backend gets the same counts."""

    name: str
    call: Callable[[Stub], Call]
    requests: int
    concurrency: int


async def populate(stub: Stub, story_id: str, tasks: int, decisions: int) -> None:
    """A story with `tasks` chained tasks over every role and `decisions` decisions linked to them."""
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id=story_id, title=f"Story {story_id}", initial_phase="BUILD")
    )
    for i in range(tasks):
        await stub.CreateTask(
            pb.CreateTaskRequest(
                story_id=story_id,
                task_id=f"{story_id}-T{i}",
                title=f"Task {i} of {story_id}",
                description=f"Implement part {i}; keep the public API stable and document the change. " * 2,
                role=ROLES[i % len(ROLES)],
                dependencies=[f"{story_id}-T{i - 1}"] if i else [],
                priority=1 + i % 5,
            )
        )
    for i in range(decisions):
        await stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(
                story_id=story_id,
                decision_type="ARCHITECTURE",
                title=f"Decision {i}",
                rationale="Because the trade-off favours simplicity and operability. " * 2,
                metadata={"role": "architect", "task_ids": f"{story_id}-T{i % tasks}"},
            )
        )


async def load(stub: Stub) -> None:
    """The medium and the large story."""
    await populate(stub, MEDIUM, 20, 10)
    await populate(stub, LARGE, 200, 100)


def get_context(story: str, role: str, budget: int = 0) -> Callable[[Stub], Call]:
    """GetContext for one story and role (budget 0: unbudgeted)."""
    request = pb.GetContextRequest(story_id=story, role=role, phase="BUILD", token_budget=budget)
    return lambda stub: lambda: stub.GetContext(request)


def rehydrate(stub: Stub) -> Call:
    """RehydrateSession of the large story for every role, with the timeline."""
    request = pb.RehydrateSessionRequest(case_id=LARGE, roles=list(ROLES), include_timeline=True)
    return lambda: stub.RehydrateSession(request)


def relationships(node_id: str, node_type: str, depth: int) -> Callable[[Stub], Call]:
    """GetGraphRelationships around one node."""
    request = pb.GetGraphRelationshipsRequest(node_id=node_id, node_type=node_type, depth=depth)
    return lambda stub: lambda: stub.GetGraphRelationships(request)


def update_context(stub: Stub) -> Call:
    """UpdateContext on the medium story: one new milestone per request."""

    def call() -> Awaitable[object]:
        change = pb.ContextChange(
            operation="CREATE",
            entity_type="MILESTONE",
            entity_id=f"M-{next(_serial)}",
            payload='{"event_type": "bench", "description": "tick"}',
        )
        request = pb.UpdateContextRequest(story_id=MEDIUM, role="developer", changes=[change])
        reply: Awaitable[object] = stub.UpdateContext(request)
        return reply

    return call


def create_task(stub: Stub) -> Call:
    """CreateTask into the large story, each new task depending on its first one."""

    def call() -> Awaitable[object]:
        n = next(_serial)
        request = pb.CreateTaskRequest(
            story_id=LARGE,
            task_id=f"{LARGE}-X{n}",
            title=f"Extra task {n}",
            role="developer",
            dependencies=[f"{LARGE}-T0"],
        )
        reply: Awaitable[object] = stub.CreateTask(request)
        return reply

    return call


SCENARIOS = (
    Scenario("GetContext medium developer", get_context(MEDIUM, "developer"), 400, 8),
    Scenario("GetContext medium architect (all subtasks)", get_context(MEDIUM, "architect"), 200, 8),
    Scenario("GetContext large developer", get_context(LARGE, "developer"), 100, 4),
    Scenario("GetContext large architect (all subtasks)", get_context(LARGE, "architect"), 100, 4),
    Scenario("GetContext large architect budget 2000", get_context(LARGE, "architect", 2000), 100, 4),
    Scenario("GetContext large qa (compact)", get_context(LARGE, "qa"), 100, 4),
    Scenario("RehydrateSession large, 5 roles", rehydrate, 100, 4),
    Scenario("GetGraphRelationships large task, depth 2", relationships(f"{LARGE}-T100", "Task", 2), 100, 4),
    # Writes last: they grow the stories the reads above measure.
    Scenario("UpdateContext medium, 1 change", update_context, 200, 8),
    Scenario("CreateTask into the large story", create_task, 400, 8),
)
