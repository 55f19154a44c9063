"""The stories every run seeds, and the scenarios measured on them.

Two kinds of scenario: *steady* ones send one fixed request over and over (driven by h2load, side by side
with the echo), and *sequenced* ones build each request afresh or interleave a write before the timed read
(driven by `bench.driver`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from bench.driver import Step, Timed
from fleet.context.session.v1 import session_pb2 as spb
from fleet.context.session.v1 import session_pb2_grpc
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

Stub = context_pb2_grpc.ContextServiceStub
SERVICE = "/fleet.context.v1.ContextService/"
SESSION_SERVICE = "/fleet.context.session.v1.SessionContextService/"
SESSION_ID, SESSION_KEY = "bench-session", "analysis:mind:7"
SESSION_VALUE = json.dumps({"verdict": "ok", "notes": ["x" * 40] * 5})
ROLES = ("architect", "developer", "devops", "qa", "data")
DEMO, MEDIUM, LARGE, WRITES = "US-101", "BENCH-M", "BENCH-L", "BENCH-W"
# Unique ids for the writes, across scenarios and rounds.
_serial = itertools.count()


@dataclass(frozen=True)
class Steady:
    """One fixed request to one method, sent as it is by every client."""

    name: str
    method: str
    request: Message
    service: str = SERVICE
    same_reply_size: bool = True  # False: the reply carries counters that grow (a Put's version)

    @property
    def path(self) -> str:
        """The gRPC method path."""
        return self.service + self.method


@dataclass(frozen=True)
class Sequenced:
    """A step per request (`make(stub)`), at 1 client and at `concurrency`."""

    name: str
    make: Callable[[Stub], Step]
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


async def seed(stub: Stub, sessions: session_pb2_grpc.SessionContextServiceStub) -> None:
    """The medium and the large story, a small one the write scenarios grow (the demo seeds itself), and
    the session entry the session scenarios read and overwrite."""
    await populate(stub, MEDIUM, 20, 10)
    await populate(stub, LARGE, 200, 100)
    await populate(stub, WRITES, 1, 0)
    await sessions.Put(SESSION_PUT)


async def seed_at(target: str) -> None:
    """`seed` through a channel of its own to the service at `target`."""
    async with grpc.aio.insecure_channel(target) as channel:
        await seed(
            context_pb2_grpc.ContextServiceStub(channel), session_pb2_grpc.SessionContextServiceStub(channel)
        )


def get_context(story: str, role: str, budget: int = 0) -> pb.GetContextRequest:
    """GetContext for one story and role in BUILD (budget 0: unbudgeted)."""
    return pb.GetContextRequest(story_id=story, role=role, phase="BUILD", token_budget=budget)


REHYDRATE = pb.RehydrateSessionRequest(case_id=LARGE, roles=list(ROLES), include_timeline=True)
SESSION_GET = spb.GetRequest(session_id=SESSION_ID, key=SESSION_KEY)
SESSION_PUT = spb.PutRequest(session_id=SESSION_ID, key=SESSION_KEY, value_json=SESSION_VALUE)
STEADY = (
    Steady("GetContext demo US-101 developer", "GetContext", get_context(DEMO, "developer")),
    Steady("GetContext medium developer", "GetContext", get_context(MEDIUM, "developer")),
    Steady("GetContext large architect", "GetContext", get_context(LARGE, "architect")),
    Steady("GetContext large qa, budget 2000", "GetContext", get_context(LARGE, "qa", 2000)),
    Steady("RehydrateSession large, 5 roles, timeline", "RehydrateSession", REHYDRATE),
    Steady(
        "ValidateScope (no store)",
        "ValidateScope",
        pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=["CASE_HEADER"]),
    ),
    Steady("session Get (one key)", "Get", SESSION_GET, SESSION_SERVICE),
    Steady("session Put (one key, overwritten)", "Put", SESSION_PUT, SESSION_SERVICE, same_reply_size=False),
)


def touch_task(stub: Stub, story: str) -> Callable[[], object]:
    """UpdateContext changing one task's description to a new value (a real write, one new revision)."""

    def write() -> object:
        payload = json.dumps({"description": f"Revised plan {next(_serial)}."})
        change = pb.ContextChange(
            operation="UPDATE", entity_type="TASK", entity_id=f"{story}-T1", payload=payload
        )
        return stub.UpdateContext(pb.UpdateContextRequest(story_id=story, role="developer", changes=[change]))

    return write


def read_after_write(story: str, read: Callable[[Stub], Timed]) -> Callable[[Stub], Step]:
    """A write to `story`, then the timed read."""

    def make(stub: Stub) -> Step:
        write, timed = touch_task(stub, story), read(stub)

        async def step() -> Timed:
            await write()  # type: ignore[misc]
            return timed

        return step

    return make


def timed(method: str, request: Message) -> Callable[[Stub], Timed]:
    """The stub call of `method` with a fixed request."""
    return lambda stub: lambda: getattr(stub, method)(request)


def fresh(build: Callable[[Stub], Timed]) -> Callable[[Stub], Step]:
    """A step that is just the timed call, built anew each time."""

    def make(stub: Stub) -> Step:
        async def step() -> Timed:
            return build(stub)

        return step

    return make


def update_context(stub: Stub) -> Timed:
    """UpdateContext on the write story: one new milestone per request."""
    change = pb.ContextChange(
        operation="CREATE",
        entity_type="MILESTONE",
        entity_id=f"M-{next(_serial)}",
        payload='{"event_type": "bench", "description": "tick"}',
    )
    request = pb.UpdateContextRequest(story_id=WRITES, role="developer", changes=[change])
    return lambda: stub.UpdateContext(request)


def create_task(stub: Stub) -> Timed:
    """CreateTask into the write story, each new task depending on its first one."""
    n = next(_serial)
    request = pb.CreateTaskRequest(
        story_id=WRITES,
        task_id=f"{WRITES}-X{n}",
        title=f"Extra task {n}",
        role="developer",
        dependencies=[f"{WRITES}-T0"],
    )
    return lambda: stub.CreateTask(request)


def sequenced(requests: int) -> tuple[Sequenced, ...]:
    """The sequenced scenarios, `requests` timed calls each."""
    medium, large = get_context(MEDIUM, "developer"), get_context(LARGE, "architect")
    return (
        Sequenced(
            "first read after a write: GetContext medium developer",
            read_after_write(MEDIUM, timed("GetContext", medium)),
            requests,
            1,
        ),
        Sequenced(
            "first read after a write: GetContext large architect",
            read_after_write(LARGE, timed("GetContext", large)),
            requests // 2,
            1,
        ),
        Sequenced(
            "first read after a write: RehydrateSession large",
            read_after_write(LARGE, timed("RehydrateSession", REHYDRATE)),
            requests // 2,
            1,
        ),
        Sequenced("UpdateContext, 1 new milestone", fresh(update_context), requests, 32),
        Sequenced("CreateTask", fresh(create_task), requests, 32),
    )
