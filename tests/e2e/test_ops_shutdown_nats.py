"""SIGTERM mid-burst on FalkorDB + Valkey + NATS: a clean exit, and a successor applies the rest exactly once.

The service runs as `context-service serve` subprocesses on the session's FalkorDB and Valkey (a graph and a
key namespace of this test) and on a NATS server of this test alone, so no other test's messages reach its
durables.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nats.js.errors
import pytest
from grpc_health.v1 import health_pb2
from nats.aio.client import Client

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.nats.client import envelope_event
from context_service.adapters.nats.envelope import encode_envelope, outbound_headers
from context_service.adapters.system import SystemClock
from context_service.local_servers import LocalServer, nats_server
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.e2e.builders import change, update_request
from tests.integration.nats.support import client as nats_client
from tests.integration.nats.support import deliberation, payloads_of, stream_messages
from tests.support.process import serve_process, wait_until_serving
from tests.support.servers import start_or_fail
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
GRACE_SECONDS = 5
SUBJECT = "orchestration.deliberation.completed"
STREAM, DURABLE = "ORCHESTRATOR_EVENTS", "context-orch-deliberation-completed"
STORIES, EVENTS = 4, 160  # each event is one deliberation with one decision, spread over the stories
BURST_STORIES, BURST_EVENTS = 10, 1000  # two processes sharing the durables
CLIENTS = 8
SERVING = health_pb2.HealthCheckResponse.SERVING
MILESTONE = {"event_type": "review", "description": "Load test checkpoint"}


@dataclass(frozen=True)
class Stores:
    """Where both service processes keep their state, and a graph handle of the test to read it."""

    env: dict[str, str]
    nats_url: str
    graph: FalkorGraph
    run: str
    logs: Path

    def story(self, n: int) -> str:
        """The id of the n-th story the burst updates."""
        return f"US-{self.run}-{n}"

    @property
    def load_story(self) -> str:
        """The story gRPC clients write to meanwhile (its versions are not counted)."""
        return f"US-{self.run}-LOAD"


@dataclass(frozen=True)
class Served:
    """One `context-service serve` process and its JSON log file."""

    process: subprocess.Popen[bytes]
    target: str
    log_path: Path

    def lines(self) -> list[dict[str, Any]]:
        """Every log line written so far."""
        text = self.log_path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
async def stores(tmp_path: Path, falkordb: LocalServer, valkey: LocalServer) -> AsyncIterator[Stores]:
    """A private NATS server, a fresh graph on the session's FalkorDB, a key prefix on its Valkey."""
    broker = start_or_fail(nats_server(tmp_path / "nats"))
    run = uuid.uuid4().hex[:8].upper()
    env = {
        **os.environ,
        "GRAPH_BACKEND": "falkordb",
        "FALKORDB_URL": falkordb.url,
        "FALKORDB_GRAPH": f"shutdown-{run}",
        "KV_BACKEND": "valkey",
        "VALKEY_URL": valkey.url,
        "KV_KEY_PREFIX": f"shutdown-{run}:",
        "ENABLE_NATS": "true",
        "NATS_URL": broker.url,
        # Messages delivered to a stopped process come back after the ack wait: keep it short.
        "NATS_ACK_WAIT_SECONDS": "2",
        "GRPC_HOST": "127.0.0.1",
        "METRICS_ENABLED": "false",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "OTEL_TRACES_EXPORTER": "none",
        "LOG_FORMAT": "json",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    try:
        async with FalkorGraph(url=falkordb.url, graph=f"shutdown-{run}", timeout_seconds=5.0) as graph:
            yield Stores(env, broker.url, graph, run, tmp_path)
            await graph.drop()
    finally:
        broker.stop()


@contextmanager
def serve(stores: Stores, name: str) -> Iterator[Served]:
    """A service process on the stores (stopped with SIGTERM on exit if it still runs, killed if stuck)."""
    log_path = stores.logs / f"{name}.jsonl"
    with serve_process(stores.env, log_path) as (process, target):
        yield Served(process, target, log_path)


async def create_stories(stores: Stores, target: str, stories: int = STORIES) -> None:
    """The burst's stories, each with the task its decisions influence, and the clients' story (gRPC)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        for story_id in [*(stores.story(n) for n in range(stories)), stores.load_story]:
            await stub.CreateStory(pb.CreateStoryRequest(story_id=story_id, title=f"Story {story_id}"))
            task = pb.CreateTaskRequest(
                story_id=story_id, task_id=f"{story_id}-T", title="Build it", role="developer"
            )
            await stub.CreateTask(task)


def story_of(stores: Stores, n: int, stories: int = STORIES) -> str:
    """The story the n-th event updates."""
    return stores.story(n % stories)


async def publish_events(nc: Client, stores: Stores, numbers: range, stories: int = STORIES) -> None:
    """Deliberations `numbers`, each with its own decision, idempotency key and correlation id."""
    js, now_ms = nc.jetstream(), SystemClock().now_ms()
    acks = []
    for n in numbers:
        story = story_of(stores, n, stories)
        event = envelope_event(
            SUBJECT,
            deliberation(story, f"{story}-T", f"DEC-{stores.run}-{n}"),
            idempotency_key=f"deliberation-{stores.run}-{n}",
            correlation_id=f"corr-{stores.run}-{n}",
        )
        data = encode_envelope(event, now_ms=now_ms)
        acks.append(await js.publish_async(SUBJECT, data, headers=outbound_headers(event.idempotency_key)))
    await asyncio.gather(*acks)  # every event stored (a failed publish fails the test here)


async def unsettled(nc: Client, events: int = EVENTS) -> int:
    """Messages of the durable not yet acknowledged (waiting or in flight); all of them before it exists."""
    try:
        info = await nc.jetstream().consumer_info(STREAM, DURABLE)
    except nats.js.errors.NotFoundError:
        return events
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


def fewer_unsettled_than(nc: Client, limit: int) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: fewer than `limit` messages of the durable are unacknowledged."""

    async def check() -> bool:
        return await unsettled(nc) < limit

    return check


async def rpc_caller(stores: Stores, target: str, number: int) -> list[grpc.StatusCode]:
    """Alternate GetContext on a burst story and UpdateContext on the clients' story until a call fails."""
    read = pb.GetContextRequest(story_id=story_of(stores, number), role="developer", phase="BUILD")
    codes: list[grpc.StatusCode] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        for step in itertools.count():
            write = update_request(
                change("CREATE", "MILESTONE", f"M-{number}-{step}", MILESTONE), story_id=stores.load_story
            )
            try:
                await (
                    stub.GetContext(read, timeout=10) if step % 2 else stub.UpdateContext(write, timeout=10)
                )
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
                return codes
            codes.append(grpc.StatusCode.OK)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Applied:
    """What the burst left in one story: its version, decision history entries, announced versions."""

    version: int
    decisions: list[str]
    announced: list[int]

    @classmethod
    def expected(
        cls, stores: Stores, n: int, baseline: int, events: int = EVENTS, stories: int = STORIES
    ) -> Applied:
        """Each of the story's deliberations applied once: one version, one entry, one announcement."""
        decisions = sorted(f"DEC-{stores.run}-{e}" for e in range(n, events, stories))
        versions = list(range(baseline + 1, baseline + len(decisions) + 1))
        return cls(baseline + len(decisions), decisions, versions)


async def version_of(stores: Stores, story_id: str) -> int:
    """The story's context version (-1 when it does not exist)."""
    story = await stores.graph.get_story(story_id)
    return -1 if story is None else story.context_version


async def applied(stores: Stores, story_id: str, announcements: list[dict[str, Any]]) -> Applied:
    """The story's state in the graph, and the versions context.events.updated announced for it."""
    history = await stores.graph.history(story_id, limit=10 * BURST_EVENTS)
    return Applied(
        version=await version_of(stores, story_id),
        decisions=sorted(entry.entity_id for entry in history if entry.entity_type == "DECISION"),
        announced=sorted(a["version"] for a in announcements if a["story_id"] == story_id),
    )


async def test_sigterm_mid_burst_exits_cleanly_and_no_consumed_message_is_lost_or_applied_twice(
    stores: Stores,
) -> None:
    # Arrange
    half, stories = EVENTS // 2, [stores.story(n) for n in range(STORIES)]
    async with nats_client(stores.nats_url) as nc:
        with serve(stores, "first") as first:
            await wait_until_serving(first.target, first.process, log_path=first.log_path)
            await create_stories(stores, first.target)
            baseline = [await version_of(stores, story_id) for story_id in stories]
            clients = [asyncio.ensure_future(rpc_caller(stores, first.target, n)) for n in range(CLIENTS)]
            await publish_events(nc, stores, range(half))
            await eventually(fewer_unsettled_than(nc, half))  # the consumer is at work

            # Act
            first.process.send_signal(signal.SIGTERM)
            await publish_events(nc, stores, range(half, EVENTS))  # the rest of the burst meanwhile
            codes = await asyncio.wait_for(asyncio.gather(*clients), timeout=30)
            exit_code = await asyncio.to_thread(first.process.wait, GRACE_SECONDS)
        left_by_first = await unsettled(nc)
        with serve(stores, "second") as second:
            await wait_until_serving(second.target, second.process, log_path=second.log_path)
            await eventually(fewer_unsettled_than(nc, 1), within=30)
        announced = [p["payload"] for p in payloads_of(await stream_messages(nc, "context.events.updated"))]

    # Assert
    assert exit_code == 0
    assert left_by_first > 0  # the successor had work: the burst really spanned the shutdown
    assert all(set(calls[:-1]) <= {grpc.StatusCode.OK} for calls in codes)
    assert {calls[-1] for calls in codes} == {grpc.StatusCode.UNAVAILABLE}
    assert [await applied(stores, story_id, announced) for story_id in stories] == [
        Applied.expected(stores, n, baseline[n]) for n in range(STORIES)
    ]
    lines = first.lines() + second.lines()
    assert handled(stores, lines) == {f"corr-{stores.run}-{n}" for n in range(EVENTS)}
    assert not [line for line in lines if line["level"] in {"error", "critical"}]


async def test_two_service_processes_sharing_the_durables_apply_each_of_a_thousand_events_once(
    stores: Stores,
) -> None:
    # Arrange
    stories = [stores.story(n) for n in range(BURST_STORIES)]
    async with nats_client(stores.nats_url) as nc:
        with serve(stores, "one") as one, serve(stores, "two") as two:
            await wait_until_serving(one.target, one.process, log_path=one.log_path)
            await wait_until_serving(two.target, two.process, log_path=two.log_path)
            await create_stories(stores, one.target, BURST_STORIES)
            baseline = [await version_of(stores, story_id) for story_id in stories]

            # Act
            await publish_events(nc, stores, range(BURST_EVENTS), BURST_STORIES)
            await eventually(_settled(nc), within=120)
        announced = [p["payload"] for p in payloads_of(await stream_messages(nc, "context.events.updated"))]

    # Assert
    assert [await applied(stores, story_id, announced) for story_id in stories] == [
        Applied.expected(stores, n, baseline[n], BURST_EVENTS, BURST_STORIES) for n in range(BURST_STORIES)
    ]
    shares = [handled(stores, served.lines()) for served in (one, two)]
    assert shares[0] | shares[1] == {f"corr-{stores.run}-{n}" for n in range(BURST_EVENTS)}
    assert all(shares)  # both replicas took a share of the work


def handled(stores: Stores, lines: list[dict[str, Any]]) -> set[str]:
    """The burst events these log lines show handled; a redelivery may log one twice, applying nothing twice.

    Delivery is at least once (a message not acked within ack_wait under CPU load comes again), so the
    promise checked is on the effects (`Applied`): the log only shows which events each process handled.
    """
    messages = [line for line in lines if line["event"] == "nats_message"]
    assert {line["outcome"] for line in messages} <= {"processed", "deduplicated"}
    return {
        line["correlation_id"]
        for line in messages
        if line["outcome"] == "processed" and line["correlation_id"].startswith(f"corr-{stores.run}-")
    }


def _settled(nc: Client) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await unsettled(nc, BURST_EVENTS) == 0

    return check
