"""The response cache is never stale: after every write path, both replicas answer as an uncached one does.

Three `context-service serve` processes share FalkorDB, Valkey and NATS: two replicas with the response cache
on, and a reference with it off (`RESPONSE_CACHE_MAX_BYTES=0`). For each write path the replicas' caches are
primed with the story's answers first; after the write lands, GetContext and RehydrateSession on both replicas
must equal the reference's answers, and the reference's must have changed (the write is visible at all).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from nats.aio.client import Client
from redis.asyncio import Redis

from bench.stack import Served, Stack, write_token
from context_service.adapters.nats.client import publish_event
from context_service.adapters.nats.handlers import SUBJECTS
from context_service.adapters.planning_format import summary_key
from context_service.local_servers import LocalServer
from context_service.ports.events import OutboundEvent
from fleet.context.admin.v1 import admin_pb2 as admin
from fleet.context.admin.v1 import admin_pb2_grpc as admin_grpc
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.integration.nats.support import clean_streams
from tests.integration.nats.support import client as nats_client
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
VALKEY_DB = 6  # goldens 1-3, fuzzers and round trips 4-5
ROLES = ["developer", "architect", "qa"]
PROJECT, EPIC = "PR-STALE", "EP-STALE"
Answers = tuple[pb.GetContextResponse, pb.RehydrateSessionResponse]


@dataclass
class Replica:
    """One service process and its stubs."""

    served: Served
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]

    @property
    def stub(self) -> pb_grpc.ContextServiceStub:
        """fleet.context.v1."""
        return pb_grpc.ContextServiceStub(self.channel)

    @property
    def admin(self) -> admin_grpc.ContextAdminServiceStub:
        """fleet.context.admin.v1."""
        return admin_grpc.ContextAdminServiceStub(self.channel)

    async def answers(self, story: str) -> Answers | grpc.StatusCode:
        """What agents read of the story: a developer's context and every role's pack (time left out);
        the status when there is no such story."""
        asked = pb.GetContextRequest(story_id=story, role="developer", phase="BUILD")
        request = pb.RehydrateSessionRequest(
            case_id=story, roles=ROLES, include_timeline=True, include_summaries=True
        )
        try:
            context = await self.stub.GetContext(asked, metadata=self.metadata)
            packs = await self.stub.RehydrateSession(request, metadata=self.metadata)
        except grpc.aio.AioRpcError as err:
            return err.code()
        packs.ClearField("generated_at_ms")
        return context, packs


@dataclass
class Fleet:
    """Two caching replicas, the uncaching reference, and the stores' clients."""

    replicas: tuple[Replica, Replica]
    reference: Replica
    nc: Client
    valkey: Redis
    exported: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def fleet(
    tmp_path_factory: pytest.TempPathFactory, falkordb: LocalServer, valkey: LocalServer, nats: LocalServer
) -> AsyncIterator[Fleet]:
    root = tmp_path_factory.mktemp("cache-staleness")
    token = uuid.uuid4().hex
    write_token(root, token)
    graph = f"staleness-{uuid.uuid4().hex[:8]}"
    await clean_streams(nats.url)
    cached = Stack(root, token, falkordb, valkey, nats, graph=graph, valkey_db=VALKEY_DB)
    uncached = Stack(
        root, token, falkordb, valkey, nats, graph=graph, valkey_db=VALKEY_DB,
        extra_env={"RESPONSE_CACHE_MAX_BYTES": "0"},
    )  # fmt: skip
    served = [cached.serve("replica-1"), cached.serve("replica-2"), uncached.serve("reference")]
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        for process in served:
            await process.wait_serving()
        channels = [grpc.aio.insecure_channel(s.target) for s in served]
        one, two, reference = (Replica(s, c, metadata) for s, c in zip(served, channels, strict=True))
        async with nats_client(nats.url) as nc, Redis.from_url(f"{valkey.url}/{VALKEY_DB}") as redis:
            await redis.flushdb()
            fleet = Fleet((one, two), reference, nc, redis)
            await project_and_epic(fleet)
            yield fleet
        for channel in channels:
            await channel.close()
    finally:
        for process in served:
            process.stop()


async def project_and_epic(fleet: Fleet) -> None:
    """The project and epic that stories created by planning events belong to (over NATS)."""
    await publish(fleet, "planning.project.created", {"project_id": PROJECT, "name": "Shop"})
    await publish(fleet, "planning.epic.created", {"epic_id": EPIC, "project_id": PROJECT, "title": "Pay"})
    asked = pb.GetGraphRelationshipsRequest(node_id=EPIC, node_type="Epic", depth=1)
    reference = fleet.reference

    async def landed() -> bool:
        try:
            await reference.stub.GetGraphRelationships(asked, metadata=reference.metadata)
        except grpc.aio.AioRpcError:
            return False
        return True

    await eventually(landed, within=30, what="the epic created over NATS")


async def seeded(fleet: Fleet) -> str:
    """A new story in BUILD with two tasks (one depending on the other) and a decision."""
    story = f"ST-{uuid.uuid4().hex[:8]}"
    stub, metadata = fleet.replicas[0].stub, fleet.replicas[0].metadata
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id=story, title="Checkout", initial_phase="BUILD"), metadata=metadata
    )
    for task, deps in ((f"{story}-T1", []), (f"{story}-T2", [f"{story}-T1"])):
        request = pb.CreateTaskRequest(
            story_id=story, task_id=task, title=f"Task {task}", role="developer", dependencies=deps
        )
        await stub.CreateTask(request, metadata=metadata)
    return story


async def publish(fleet: Fleet, subject: str, payload: dict[str, object]) -> None:
    """A fleet event as the planning or orchestration service sends it."""
    key = uuid.uuid4().hex
    event = OutboundEvent(subject, subject, payload, idempotency_key=key, correlation_id=key)
    await publish_event(fleet.nc, event, now_ms=0)


# Each write path: what it does to the story (through replica 1, NATS, the admin API or Valkey directly).
Write = Callable[[Fleet, str], Awaitable[None]]


async def create_story(fleet: Fleet, story: str) -> None:
    """The story did not exist until now (a repeat of CreateStory changes nothing)."""
    replica = fleet.replicas[0]
    request = pb.CreateStoryRequest(story_id=story, title="Returns", initial_phase="BUILD")
    await replica.stub.CreateStory(request, metadata=replica.metadata)


async def create_task(fleet: Fleet, story: str) -> None:
    replica = fleet.replicas[0]
    request = pb.CreateTaskRequest(story_id=story, task_id=f"{story}-T3", title="Refund", role="developer")
    await replica.stub.CreateTask(request, metadata=replica.metadata)


async def add_decision(fleet: Fleet, story: str) -> None:
    replica = fleet.replicas[0]
    request = pb.AddProjectDecisionRequest(
        story_id=story, decision_type="ARCHITECTURE", title="Use the gateway", rationale="PCI scope"
    )
    await replica.stub.AddProjectDecision(request, metadata=replica.metadata)


def _milestone_change(story: str) -> pb.ContextChange:
    payload = json.dumps({"event_type": "review", "description": "Design review passed"})
    return pb.ContextChange(
        operation="CREATE", entity_type="MILESTONE", entity_id=f"{story}-M1", payload=payload, reason="r"
    )


async def update_context(fleet: Fleet, story: str) -> None:
    replica = fleet.replicas[0]
    request = pb.UpdateContextRequest(
        story_id=story, task_id=f"{story}-T1", role="developer", changes=[_milestone_change(story)]
    )
    await replica.stub.UpdateContext(request, metadata=replica.metadata)


async def transition_phase(fleet: Fleet, story: str) -> None:
    replica = fleet.replicas[0]
    request = pb.TransitionPhaseRequest(story_id=story, from_phase="BUILD", to_phase="TEST", rationale="done")
    await replica.stub.TransitionPhase(request, metadata=replica.metadata)


async def update_over_nats(fleet: Fleet, story: str) -> None:
    milestone = {"event_type": "demo", "description": "Shown to the owner"}
    change = {
        "operation": "CREATE",
        "entity_type": "MILESTONE",
        "entity_id": f"{story}-M2",
        "payload": milestone,
    }
    await publish(fleet, "context.update.request", {"story_id": story, "role": "qa", "changes": [change]})


async def story_created_event(fleet: Fleet, story: str) -> None:
    await publish(fleet, "planning.story.created", {"story_id": story, "epic_id": EPIC, "name": "Returns"})


async def task_created_event(fleet: Fleet, story: str) -> None:
    task = {"task_id": f"{story}-T4", "plan_id": f"{story}-PL", "title": "Receipts", "story_id": story}
    task["role"] = "developer"
    await publish(fleet, "planning.task.created", task)


async def story_transitioned_event(fleet: Fleet, story: str) -> None:
    await publish(fleet, "planning.story.transitioned", {"story_id": story, "to_phase": "TEST"})


async def deliberation_event(fleet: Fleet, story: str) -> None:
    decision = {"id": f"{story}-D9", "type": "architecture", "title": "Queue refunds"}
    decision["affected_subtask"] = f"{story}-T1"
    payload = {"story_id": story, "task_id": f"{story}-T1", "decisions": [decision]}
    await publish(fleet, "orchestration.deliberation.completed", payload)


async def plan_approved_event(fleet: Fleet, story: str) -> None:
    payload = {"plan_id": f"{story}-PL", "story_id": story, "approved_by": "po"}
    await publish(fleet, "planning.plan.approved", payload)


async def approve_a_plan(fleet: Fleet, story: str) -> None:
    """The story's plan, which planned tasks name."""
    before = await fleet.reference.answers(story)
    await plan_approved_event(fleet, story)
    await eventually(lambda: _changed(fleet.reference, story, before), within=30, what="the plan approved")


async def task_dispatched_event(fleet: Fleet, story: str) -> None:
    payload = {"task_id": f"{story}-T1", "story_id": story, "agent_id": "agent-7"}
    await publish(fleet, "orchestration.task.dispatched", payload)


async def import_earlier_snapshot(fleet: Fleet, story: str) -> None:
    """The snapshot exported before T3 was added (see `PREPARE`): the import takes T3 away again."""
    replica = fleet.replicas[0]
    request = admin.ImportStoryRequest(document_json=fleet.exported[story], replace=True)
    await replica.admin.ImportStory(request, metadata=replica.metadata)


async def export_then_add_a_task(fleet: Fleet, story: str) -> None:
    replica = fleet.replicas[0]
    asked = admin.ExportStoryRequest(story_id=story)
    fleet.exported[story] = (await replica.admin.ExportStory(asked, metadata=replica.metadata)).document_json
    await create_task(fleet, story)


async def read_model_in_valkey(fleet: Fleet, story: str) -> None:
    await fleet.valkey.set(summary_key(story, "developer"), "Another service summarised the work so far")


NEW_STORY = {"CreateStory", "planning.story.created"}  # these paths create the story they are read on
# Run before the caches are primed.
PREPARE: dict[str, Write] = {"ImportStory": export_then_add_a_task, "planning.task.created": approve_a_plan}
WRITES: dict[str, Write] = {
    "CreateStory": create_story,
    "CreateTask": create_task,
    "AddProjectDecision": add_decision,
    "UpdateContext": update_context,
    "TransitionPhase": transition_phase,
    "context.update.request": update_over_nats,
    "planning.story.created": story_created_event,
    "planning.task.created": task_created_event,
    "planning.story.transitioned": story_transitioned_event,
    "orchestration.deliberation.completed": deliberation_event,
    "planning.plan.approved": plan_approved_event,
    "orchestration.task.dispatched": task_dispatched_event,
    "ImportStory": import_earlier_snapshot,
    "read-model written by another service": read_model_in_valkey,
}


@pytest.mark.parametrize("path", sorted(WRITES))
async def test_both_replicas_serve_the_write_at_once_as_an_uncached_reader_does(
    fleet: Fleet, path: str
) -> None:
    # Arrange: the story, and both replicas' caches holding its answers
    story = await seeded(fleet)
    if path in NEW_STORY:
        story = f"{story}-NEW"  # (not found until the write)
    if path in PREPARE:
        await PREPARE[path](fleet, story)
    before = await fleet.reference.answers(story)
    for replica in fleet.replicas:
        assert await replica.answers(story) == before
        assert await replica.answers(story) == before  # served from the cache

    # Act
    await WRITES[path](fleet, story)
    await eventually(
        lambda: _changed(fleet.reference, story, before), within=30, what=f"{path} visible to the reference"
    )

    # Assert
    expected = await fleet.reference.answers(story)
    for replica in fleet.replicas:
        assert await replica.answers(story) == expected, (
            f"{path}: {replica.served.target} served a stale answer"
        )


async def _changed(reference: Replica, story: str, before: Answers | grpc.StatusCode) -> bool:
    return await reference.answers(story) != before


def test_the_write_paths_cover_every_rpc_that_writes_and_every_inbound_event_about_a_story() -> None:
    """Projects and epics are not part of any story's answer; context.rehydrate.request writes nothing."""
    story_events = {s.subject for s in SUBJECTS} - {
        "planning.project.created",
        "planning.epic.created",
        "context.rehydrate.request",
    }
    rpcs = {
        "CreateStory",
        "CreateTask",
        "AddProjectDecision",
        "UpdateContext",
        "TransitionPhase",
        "ImportStory",
    }
    assert story_events | rpcs <= set(WRITES)
