"""The assembled service on the in-memory graph/KV/planning adapters with real NATS messaging, and helpers."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.nats.client import envelope_event, publish_event
from context_service.adapters.nats.consumers import AfterEffect
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.adapters.nats.runtime import Messaging
from context_service.adapters.nats.settle import ConsumerSettings
from context_service.adapters.nats.streams import STREAMS, ensure_streams
from context_service.adapters.policy_file import load_policy
from context_service.adapters.system import SystemClock
from context_service.adapters.tokenizer import CharEstimateCounter
from context_service.application.create_story import StoryRequest
from context_service.application.create_task import TaskRequest
from context_service.bootstrap import Container, memory_adapters, wire
from context_service.config import NatsSettings
from context_service.domain.model import Story
from context_service.observability.metrics import REGISTRY
from context_service.ports.errors import StoreUnavailable
from fleet.context.v1 import context_pb2_grpc
from tests.support.fakes import SequentialIds

# Short waits so retries and redeliveries happen within a test's bounds.
FAST = ConsumerSettings(
    fetch_batch=64, max_deliver=6, ack_wait=1.0, fetch_timeout=0.2, retry_base=0.05, retry_cap=0.5
)


class FlakyGraph(InMemoryGraph):
    """The in-memory graph; while `down`, every read and write raises StoreUnavailable."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("graph store is down", backend="fake", operation="call")

    async def commit(self, batch: Any) -> Any:
        """Refused while down."""
        self._check()
        return await super().commit(batch)

    async def locate(self, nodes: Any) -> Any:
        """Refused while down."""
        self._check()
        return await super().locate(nodes)

    async def get_story(self, story_id: str) -> Story | None:
        """Refused while down."""
        self._check()
        return await super().get_story(story_id)

    async def load_if_changed(self, story_id: str, seen: int) -> Any:
        """Refused while down."""
        self._check()
        return await super().load_if_changed(story_id, seen)


@dataclass(frozen=True)
class Ids:
    """Ids unique to one test: the shared server's duplicate window (2 min) spans tests."""

    run: str

    @classmethod
    def new(cls) -> Ids:
        """A fresh set."""
        return cls(uuid.uuid4().hex[:8].upper())

    def __getattr__(self, name: str) -> str:
        return f"{name.upper()}-{self.run}"


@dataclass
class App:
    """One running service instance: wiring, messaging and (optionally) the gRPC stub."""

    container: Container
    messaging: Messaging
    publisher: OutboxPublisher
    graph: InMemoryGraph
    kv: InMemoryKeyValueStore
    stub: context_pb2_grpc.ContextServiceStub | None = None


def build_app(
    url: str,
    *,
    graph: InMemoryGraph | None = None,
    kv: InMemoryKeyValueStore | None = None,
    settings: ConsumerSettings = FAST,
    after_effect: AfterEffect | None = None,
    startup_timeout: float = 5.0,
    start_consumers: bool = True,
) -> App:
    """Publisher first, then the use cases that take it, then the messaging runtime that calls them."""
    clock = SystemClock()
    graph = graph or InMemoryGraph()
    kv = kv or InMemoryKeyValueStore()
    publisher = OutboxPublisher(kv=kv, clock=clock)
    adapters = memory_adapters(graph=graph, clock=clock, ids=SequentialIds(), tokens=CharEstimateCounter())
    container = wire(dataclasses.replace(adapters, kv=kv, publisher=publisher), load_policy())
    messaging = Messaging(
        settings=NatsSettings(NATS_URL=url),
        use_cases=container.use_cases,
        kv=kv,
        publisher=publisher,
        consumer_settings=settings,
        startup_timeout=startup_timeout,
        reconnect_wait=0.1,
        relay_interval=0.2,
        start_consumers=start_consumers,
        after_effect=after_effect,
    )
    return App(container, messaging, publisher, graph, kv)


@asynccontextmanager
async def running_app(url: str, *, grpc_server: bool = False, **options: Any) -> AsyncIterator[App]:
    """The app with its messaging started (and a gRPC server on 127.0.0.1:0 when asked)."""
    app = build_app(url, **options)
    async with app.messaging:
        if not grpc_server:
            yield app
            return
        server = GrpcServer(use_cases=app.container.use_cases, host="127.0.0.1", port=0, grace_seconds=1)
        async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            app.stub = context_pb2_grpc.ContextServiceStub(channel)
            yield app


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    """A plain NATS client (the fleet's side)."""
    connection = await nats.connect(url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    try:
        yield connection
    finally:
        await connection.close()


async def clean_streams(url: str) -> None:
    """Ensure our streams, purge them and delete their consumers, so durables start from a clean slate."""
    connection = await nats.connect(url)
    js = connection.jetstream()
    try:
        await ensure_streams(js)
        for spec in STREAMS:
            for consumer in await js.consumers_info(spec.name):
                await js.delete_consumer(spec.name, consumer.name)
            await js.purge_stream(spec.name)
    finally:
        await connection.close()


async def publish(
    nc: Client,
    subject: str,
    payload: Mapping[str, Any],
    *,
    key: str,
    correlation_id: str = "",
    msg_id: str = "",
) -> None:
    """Publish an enveloped event as a fleet service would."""
    event = envelope_event(subject, payload, idempotency_key=key, correlation_id=correlation_id or f"c-{key}")
    await publish_event(nc, event, now_ms=SystemClock().now_ms(), msg_id=msg_id)


async def publish_raw(nc: Client, subject: str, data: bytes, msg_id: str) -> None:
    """Publish bytes as they are (for undecodable messages)."""
    await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def stream_messages(nc: Client, subject: str, stream: str = "CONTEXT") -> list[Msg]:
    """Every message stored for `subject`, oldest first (an ephemeral consumer reads them)."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5.0
    )
    subscription = await nc.jetstream().pull_subscribe(subject, stream=stream, config=config)
    found: list[Msg] = []
    try:
        while True:
            try:
                found += await subscription.fetch(256, timeout=0.3)
            except TimeoutError:  # nats-py raises the builtin one when a fetch finds nothing
                return found
    finally:
        await subscription.unsubscribe()


def payloads_of(messages: list[Msg]) -> list[dict[str, Any]]:
    """The envelopes of stored messages."""
    return [json.loads(m.data) for m in messages]


def counter(name: str, durable: str) -> float:
    """The current value of a per-consumer counter."""
    return REGISTRY.get_sample_value(f"context_consumer_{name}_total", {"consumer": durable}) or 0.0


async def version_of(graph: InMemoryGraph, story_id: str) -> int:
    """The story's context version (-1 when it does not exist)."""
    story = await graph.get_story(story_id)
    return -1 if story is None else story.context_version


async def seed_story(app: App, story_id: str, *task_ids: str) -> None:
    """A story with developer tasks, created in-process."""
    await app.container.use_cases.create_story.execute(StoryRequest(story_id, f"Story {story_id}"))
    for task_id in task_ids:
        await app.container.use_cases.create_task.execute(
            TaskRequest(story_id, task_id, f"Task {task_id}", role="developer")
        )


def deliberation(story_id: str, task_id: str, decision_id: str) -> dict[str, Any]:
    """An orchestration.deliberation.completed payload with one decision influencing `task_id`."""
    decision = {
        "id": decision_id,
        "type": "architecture",
        "title": f"Decision {decision_id}",
        "rationale": "because",
        "affected_subtask": task_id,
    }
    return {"story_id": story_id, "task_id": task_id, "decisions": [decision]}


async def consumer_state(nc: Client, stream: str, durable: str) -> tuple[int, int]:
    """(messages delivered but not yet acknowledged, messages waiting) of a durable."""
    info = await nc.jetstream().consumer_info(stream, durable)
    return info.num_ack_pending or 0, info.num_pending or 0
