"""Hostile messages on every inbound subject, against `context-service serve` on FalkorDB+Valkey+NATS.

Each case: a hostile message (a valid envelope with a hostile payload, an invalid envelope, binary garbage or
a huge message), then a good message on the same subject. The good one must be processed (nothing blocks the
durable), the process must live, no message may end INTERNAL (an error-level log line), and a dead-lettered
message must leave the fuzzed story's graph as it was. Shared by the fast suite and the long chaos run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from hypothesis import assume
from hypothesis import strategies as st
from nats.aio.client import Client
from redis.asyncio import Redis

from bench.stack import Served, Stack, write_token
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.nats.envelope import encode_envelope
from context_service.adapters.nats.handlers import SUBJECTS
from context_service.local_servers import LocalServer
from context_service.ports.events import OutboundEvent
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.e2e.test_hostile_input import HOSTILE
from tests.integration.nats.support import clean_streams
from tests.integration.nats.support import client as nats_client
from tests.support.waiting import eventually

STORY, GOOD_STORY, TASK, GOOD_TASK = "S-FUZZ", "S-GOOD", "T-FUZZ", "T-GOOD"
PROJECT, EPIC, PLAN = "PR-FUZZ", "EP-FUZZ", "PL-FUZZ"
VALKEY_DB = 5  # the gRPC fuzzer uses 4, the goldens 1-3
NOW = "2026-11-21T10:00:00Z"
HUGE_BYTES = 600_000
NATS_MAX_PAYLOAD = 1024 * 1024  # nats-server's default max_payload
CANARY = "canary-payload-c41f"  # under nats-server's 1 MB default max_payload
Payload = dict[str, Any]


def _milestone(n: str) -> Payload:
    change = {"operation": "CREATE", "entity_type": "MILESTONE", "entity_id": f"M-{n}"}
    return {
        "story_id": GOOD_STORY,
        "changes": [{**change, "payload": {"event_type": "x", "description": "d"}}],
    }


def _decision(n: str) -> Payload:
    decision = {"id": f"D-{n}", "type": "architecture", "title": "t", "affected_subtask": GOOD_TASK}
    return {"story_id": GOOD_STORY, "task_id": GOOD_TASK, "decisions": [decision]}


# A message each subject applies (n makes it new); the hostile payloads start from these.
GOOD: dict[str, Callable[[str], Payload]] = {
    "planning.project.created": lambda n: {"project_id": f"PR-{n}", "name": "Shop"},
    "planning.epic.created": lambda n: {"epic_id": f"EP-{n}", "project_id": PROJECT, "title": "Pay"},
    "planning.story.created": lambda n: {"story_id": f"S-{n}", "epic_id": EPIC, "name": "Card"},
    "planning.task.created": lambda n: {
        "task_id": f"T-{n}",
        "plan_id": PLAN,
        "title": "Do",
        "story_id": GOOD_STORY,
        "role": "developer",
    },
    "planning.story.transitioned": lambda n: {"story_id": GOOD_STORY, "to_phase": "DESIGN"},
    "planning.plan.approved": lambda n: {"plan_id": f"PL-{n}", "story_id": GOOD_STORY, "approved_by": "po"},
    "orchestration.deliberation.completed": _decision,
    "orchestration.task.dispatched": lambda n: {
        "task_id": GOOD_TASK,
        "story_id": GOOD_STORY,
        "agent_id": "a",
    },
    "context.update.request": _milestone,
    "context.rehydrate.request": lambda n: {"case_id": GOOD_STORY, "roles": ["developer"]},
}
assert set(GOOD) == {s.subject for s in SUBJECTS}, "every inbound subject has a good message"

texts = st.one_of(st.sampled_from([*HOSTILE, STORY, TASK, GOOD_STORY]), st.text(max_size=20))
scalars = st.one_of(texts, st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def envelope(subject: str, payload: Any, key: str, correlation: str) -> Payload:
    """The envelope document of a fleet message."""
    event = OutboundEvent(subject, subject, {}, idempotency_key=key, correlation_id=correlation)
    document: Payload = json.loads(encode_envelope(event, now_ms=0))
    document["payload"] = payload
    return document


@st.composite
def hostile_payload(draw: st.DrawFn, subject: str) -> Payload:
    """The subject's good payload with some fields replaced by hostile values, some added, some dropped."""
    payload = GOOD[subject]("H")
    payload["story_id"] = draw(st.sampled_from([STORY, f"S-UNKNOWN-{draw(st.integers(0, 9))}"]))
    for name in draw(st.lists(st.sampled_from(sorted(payload)), max_size=3)):
        if draw(st.booleans()):
            payload[name] = draw(values)
        else:
            payload.pop(name, None)
    payload.update(draw(st.dictionaries(texts, values, max_size=2)))
    payload.setdefault("description", CANARY)  # payload text: no log line may quote it
    return payload


@st.composite
def hostile_messages(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(subject, kind, body) of one hostile message."""
    subject = draw(st.sampled_from(sorted(GOOD)))
    kind = draw(st.sampled_from(["payload", "payload", "envelope", "garbage", "huge"]))
    key = f"h-{uuid.uuid4().hex}"
    if kind == "garbage":
        return subject, kind, draw(st.binary(max_size=512))
    document = envelope(subject, draw(hostile_payload(subject)), key, key)
    if kind == "huge":
        name = draw(st.sampled_from(["title", "description", "story_id", "x"]))
        document["payload"][name] = ""
        room = NATS_MAX_PAYLOAD - len(_encoded(document)) - 1024
        document["payload"][name] = "y" * min(HUGE_BYTES, room)
    elif kind == "envelope":
        name = draw(st.sampled_from([*sorted(document), "extra"]))
        document[name] = draw(values)
    body = _encoded(draw(values) if kind == "envelope" and draw(st.booleans()) else document)
    # Hostile values can add up past what NATS accepts at all; the client refuses those before sending.
    assume(len(body) < NATS_MAX_PAYLOAD)
    return subject, kind, body


def _encoded(document: object) -> bytes:
    return json.dumps(document).encode("utf-8", "surrogatepass")


@dataclass
class LogTail:
    """The service's JSON log, read on from where the last read stopped."""

    path: Path
    offset: int = 0
    lines: list[Payload] = field(default_factory=list)

    def read(self) -> list[Payload]:
        """The lines written since the last read."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        fresh = [json.loads(line) for line in complete.splitlines() if line.strip()]
        self.lines += fresh
        return fresh

    def outcome(self, correlation_id: str) -> str | None:
        """The last outcome logged for a message with this correlation id."""
        found = [
            x["outcome"] for x in self.lines if x.get("correlation_id") == correlation_id and "outcome" in x
        ]
        return found[-1] if found else None

    def quoting(self, text: str) -> list[Payload]:
        """Lines that contain `text` anywhere."""
        return [x for x in self.lines if text in json.dumps(x, ensure_ascii=False)]

    def errors(self) -> list[Payload]:
        """Error-level lines (an unexpected failure is one)."""
        return [x for x in self.lines if x.get("level") in {"error", "critical"}]


@dataclass
class Fuzzed:
    """The service under fuzz, a graph reader and a NATS client."""

    served: Served
    graph: FalkorGraph
    nc: Client
    log: LogTail
    cases: int = 0


async def publish(nc: Client, subject: str, body: bytes) -> None:
    """Publish bytes as they are, under a fresh Nats-Msg-Id."""
    await nc.jetstream().publish(subject, body, headers={"Nats-Msg-Id": uuid.uuid4().hex}, timeout=10)


async def send_good(fuzzed: Fuzzed, subject: str, n: str) -> None:
    """A good message on `subject`; wait (bounded) until the service has processed it."""
    correlation = f"g-{n}"
    document = envelope(subject, GOOD[subject](n), correlation, correlation)
    await publish(fuzzed.nc, subject, json.dumps(document).encode())

    def processed() -> bool:
        fuzzed.log.read()
        assert fuzzed.served.process.poll() is None, "the service process died"
        return fuzzed.log.outcome(correlation) is not None

    await eventually(processed, within=30, what=f"the good message behind on {subject} handled")
    assert fuzzed.log.outcome(correlation) == "processed", (subject, fuzzed.log.outcome(correlation))


async def check_case(fuzzed: Fuzzed, subject: str, kind: str, body: bytes) -> str | None:
    """Send one hostile message and a good one behind it; the hostile one's outcome (None: not yet)."""
    fuzzed.cases += 1
    before = await fuzzed.graph.load_story_graph(STORY)
    await publish(fuzzed.nc, subject, body)
    await send_good(fuzzed, subject, f"{fuzzed.cases}-{uuid.uuid4().hex[:6]}")
    assert fuzzed.log.errors() == [], fuzzed.log.errors()[:3]
    assert fuzzed.log.quoting(CANARY) == [], fuzzed.log.quoting(CANARY)[:3]
    outcome = _hostile_outcome(fuzzed, body)
    if outcome == "dead_lettered":
        assert await fuzzed.graph.load_story_graph(STORY) == before, (subject, kind, body[:300])
    return outcome


def _hostile_outcome(fuzzed: Fuzzed, body: bytes) -> str | None:
    try:
        correlation = json.loads(body).get("correlation_id")
    except (ValueError, AttributeError):
        return "dead_lettered"  # no envelope to name it by: undecodable messages are always terminated
    return fuzzed.log.outcome(correlation) if isinstance(correlation, str) else None


async def _seed(fuzzed: Fuzzed, token: str) -> None:
    """Two stories with a task each (gRPC); the project, epic and plan the good messages name (NATS)."""
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(fuzzed.served.target) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        for story, task in ((STORY, TASK), (GOOD_STORY, GOOD_TASK)):
            await stub.CreateStory(pb.CreateStoryRequest(story_id=story, title="Fuzz"), metadata=metadata)
            request = pb.CreateTaskRequest(story_id=story, task_id=task, title="Target", role="developer")
            await stub.CreateTask(request, metadata=metadata)
    for subject, fixed in (
        ("planning.project.created", GOOD["planning.project.created"]("FUZZ")),
        ("planning.epic.created", GOOD["planning.epic.created"]("FUZZ")),
        ("planning.plan.approved", {"plan_id": PLAN, "story_id": GOOD_STORY, "approved_by": "po"}),
    ):
        document = envelope(subject, fixed, f"seed-{subject}", f"seed-{subject}")
        await publish(fuzzed.nc, subject, json.dumps(document).encode())
        await eventually(lambda s=subject: _seeded(fuzzed, s), within=30, what=f"seed on {subject}")


def _seeded(fuzzed: Fuzzed, subject: str) -> bool:
    fuzzed.log.read()
    return fuzzed.log.outcome(f"seed-{subject}") == "processed"


@asynccontextmanager
async def fuzzed_service(
    root: Path, *, falkordb: LocalServer, valkey: LocalServer, nats: LocalServer
) -> AsyncIterator[Fuzzed]:
    """`context-service serve` on the session's servers: a graph and a Valkey database of its own, NATS
    streams emptied first (the durables are the service's fixed names)."""
    token, graph = uuid.uuid4().hex, f"fuzz-nats-{uuid.uuid4().hex[:8]}"
    write_token(root, token)
    async with Redis.from_url(f"{valkey.url}/{VALKEY_DB}") as redis:
        await redis.flushdb()
    await clean_streams(nats.url)
    stack = Stack(root, token, falkordb, valkey, nats, graph=graph, valkey_db=VALKEY_DB)
    served = stack.serve("fuzz")
    try:
        await served.wait_serving()
        async with (
            FalkorGraph(url=falkordb.url, graph=graph, timeout_seconds=10) as reader,
            nats_client(nats.url) as nc,
        ):
            fuzzed = Fuzzed(served, reader, nc, LogTail(served.log_path))
            await _seed(fuzzed, token)
            yield fuzzed
            await reader.drop()
    finally:
        served.stop()
