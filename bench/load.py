"""Steady mixed load from a process of its own: `python -m bench.load --target … --nats … --out …`.

gRPC workers cycle GetContext, UpdateContext (one idempotency key per write, retried under the same key
until acknowledged) and CreateTask; a NATS worker publishes `context.update.request` and
`planning.story.created` events (re-published under the same Nats-Msg-Id until JetStream acknowledges them).
It first creates its story (gRPC) with the project and epic (NATS). Every attempt is one JSON line in `--out`
(written at once, so a reader sees it while the load runs).
Bounded by `--seconds` and `--max-ops`; SIGTERM stops it after the calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

import grpc
import nats
from nats.aio.client import Client

from bench import load_session
from context_service.adapters.nats.client import envelope_event, publish_event
from context_service.adapters.nats.handlers import SUBJECTS
from context_service.adapters.nats.streams import stream_of
from context_service.adapters.system import SystemClock
from context_service.ports.events import OutboundEvent
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc

RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "TIMEOUT", "NO_RESPONDERS"}
CALL_TIMEOUT_S = 5.0
PAUSE_S = 0.02
RETRY_PAUSE_S = 0.1
SEED_POLLS = 200  # 20 s for the seed events to be applied
STOP_WITHIN_S = 90.0  # a write in its retry loop finishes its current attempt
MAX_ATTEMPTS = 600  # one minute of retries at most: every loop ends by itself
# The text every write carries: a log line quoting it would be a payload leak (the scan looks for it).
CANARY = "canary-payload-7d1e"
UPDATE_SUBJECT = "context.update.request"
STORY_SUBJECT = "planning.story.created"
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.lb_policy_name", "round_robin"),
]


@dataclass
class Load:
    """What the workers share: arguments, the output file, the op budget and the stop flag."""

    args: argparse.Namespace
    out: IO[str]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ops: int = 0

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The bearer token the service requires."""
        return (("authorization", f"Bearer {self.args.token}"),)

    def record(self, op: str, key: str, code: str, started: float) -> None:
        """One attempt, as one line, written now."""
        self.ops += 1
        line = {"t": time.time(), "op": op, "key": key, "code": code, "ms": (time.time() - started) * 1e3}
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        if self.ops >= self.args.max_ops:
            self.stop.set()

    async def attempt(self, op: str, key: str, call: Callable[[], Awaitable[object]]) -> str:
        """One call; its outcome's code name (an exception that is not an RPC error is recorded, too)."""
        started = time.time()
        try:
            await call()
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        except (TimeoutError, nats.errors.TimeoutError):
            code = "TIMEOUT"
        except nats.errors.Error:
            code = "NO_RESPONDERS"
        self.record(op, key, code, started)
        return code

    async def until_acked(self, op: str, key: str, call: Callable[[], Awaitable[object]]) -> None:
        """Retry a write under the same key while the answer is retryable and the load runs."""
        for _ in range(MAX_ATTEMPTS):
            if await self.attempt(op, key, call) not in RETRYABLE or self.stop.is_set():
                return
            await asyncio.sleep(RETRY_PAUSE_S)


def grpc_target(targets: Sequence[str]) -> str:
    """One target, or every address for the round-robin policy."""
    return targets[0] if len(targets) == 1 else "ipv4:" + ",".join(targets)


async def grpc_worker(load: Load, number: int) -> None:
    """Cycle read, write, read, create-task until stopped."""
    async with grpc.aio.insecure_channel(grpc_target(load.args.target), options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        step = 0
        while not load.stop.is_set():
            await grpc_step(load, stub, f"{load.args.run}-{number}-{step}", step % 4)
            step += 1
            await asyncio.sleep(PAUSE_S)


async def grpc_step(load: Load, stub: pb_grpc.ContextServiceStub, key: str, kind: int) -> None:
    """One read (kinds 0 and 2), one UpdateContext (1) or one CreateTask (3), writes until acknowledged."""
    story, metadata = load.args.story, load.metadata
    if kind in (0, 2):
        read = pb.GetContextRequest(story_id=story, role="developer", phase="BUILD")
        call = partial(stub.GetContext, read, metadata=metadata, timeout=CALL_TIMEOUT_S)
        await load.attempt("get", key, call)
    elif kind == 1:
        headers = (*metadata, ("idempotency-key", f"u-{key}"))
        write = partial(stub.UpdateContext, update_request(story, f"M-{key}"), metadata=headers)
        await load.until_acked("update", f"u-{key}", partial(write, timeout=CALL_TIMEOUT_S))
    else:
        task = pb.CreateTaskRequest(story_id=story, task_id=f"T-{key}", title="Load task", role="developer")
        call = partial(stub.CreateTask, task, metadata=metadata, timeout=CALL_TIMEOUT_S)
        await load.until_acked("task", f"T-{key}", call)


def update_request(story_id: str, milestone_id: str) -> pb.UpdateContextRequest:
    """Create one milestone (its description is the canary text)."""
    payload = json.dumps({"event_type": "review", "description": f"{CANARY} {milestone_id}"})
    change = pb.ContextChange(
        operation="CREATE", entity_type="MILESTONE", entity_id=milestone_id, payload=payload
    )
    return pb.UpdateContextRequest(story_id=story_id, role="developer", changes=[change])


def nats_messages(args: argparse.Namespace, step: int) -> tuple[str, str, dict[str, Any]]:
    """(op, key, payload) of the step-th NATS message: an update request, then a new story."""
    key = f"{args.run}-n-{step}"
    if step % 2 == 0:
        milestone = {"description": f"{CANARY} NM-{key}", "event_type": "review"}
        change: dict[str, Any] = {"operation": "CREATE", "entity_type": "MILESTONE", "entity_id": f"NM-{key}"}
        change["payload"] = milestone
        return UPDATE_SUBJECT, f"n-{key}", {"story_id": args.story, "changes": [change]}
    return STORY_SUBJECT, f"S-{key}", {"story_id": f"S-{key}", "epic_id": args.epic, "name": "Load story"}


async def nats_worker(load: Load, nc: Client) -> None:
    """Publish fleet messages until stopped, each re-published under its own key until acknowledged."""
    clock, step = SystemClock(), 0
    while not load.stop.is_set():
        subject, key, payload = nats_messages(load.args, step)
        event = envelope_event(subject, payload, idempotency_key=key, correlation_id=f"c-{key}")
        await load.until_acked(subject, key, partial(publish, nc, event, clock))
        step += 1
        await asyncio.sleep(load.args.nats_pause)


async def publish(nc: Client, event: OutboundEvent, clock: SystemClock) -> None:
    """One publish attempt, stamped now."""
    await publish_event(nc, event, now_ms=clock.now_ms(), ack_timeout=2.0)


async def sessions(load: Load) -> None:
    """The session share (two counters, each watched) while the load runs."""
    channel = grpc.aio.insecure_channel(grpc_target(load.args.target), options=CHANNEL_OPTIONS)
    async with channel:
        watchers = [asyncio.ensure_future(load_session.session_watcher(load, channel, n)) for n in range(2)]
        try:
            await asyncio.gather(*(load_session.session_worker(load, channel, n) for n in range(2)))
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)


async def unacked(nc: Client, subject: str) -> int:
    """Messages the service's durable of an inbound subject has not acknowledged (waiting or in flight)."""
    durable = next(s.durable for s in SUBJECTS if s.subject == subject)
    info = await nc.jetstream().consumer_info(stream_of(subject), durable)
    return (info.num_pending or 0) + (info.num_ack_pending or 0)


async def settled(nc: Client, subject: str) -> bool:
    """True once the durable of an inbound subject has nothing waiting or in flight."""
    try:
        return await unacked(nc, subject) == 0
    except (nats.errors.Error, TimeoutError):  # no consumer yet, or NATS still coming back
        return False


async def seed(args: argparse.Namespace, nc: Client) -> None:
    """The story over gRPC; its project and epic over NATS, applied before the load starts (bounded)."""
    metadata = (("authorization", f"Bearer {args.token}"),)
    async with grpc.aio.insecure_channel(args.target[0]) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        request = pb.CreateStoryRequest(story_id=args.story, title="Load story")
        for _ in range(SEED_POLLS):  # a cold store may miss the first deadlines
            try:
                await stub.CreateStory(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
                break
            except grpc.aio.AioRpcError as error:
                if error.code().name not in RETRYABLE:
                    raise
            await asyncio.sleep(0.1)
    project = f"PR-{args.run}"
    for subject, payload in (
        ("planning.project.created", {"project_id": project, "name": "Load"}),
        ("planning.epic.created", {"epic_id": args.epic, "project_id": project, "title": "Load epic"}),
    ):
        event = envelope_event(subject, payload, idempotency_key=f"{subject}-{args.run}", correlation_id="c")
        await publish(nc, event, SystemClock())
        for _ in range(SEED_POLLS):
            if await settled(nc, subject):
                break
            await asyncio.sleep(0.1)


async def run(args: argparse.Namespace) -> None:
    """Seed, start the workers; stop on SIGTERM, after `--seconds` or after `--max-ops` attempts."""
    # The lines are small and the file local: blocking writes cost less than a writer thread here.
    with open(args.out, "a", encoding="utf-8") as out:  # noqa: ASYNC230
        load = Load(args, out)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, load.stop.set)
        nc = await nats.connect(args.nats, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
        try:
            if not await _seeded_unless_stopped(seed(args, nc), load.stop):
                return  # stopped while seeding (a cold or failing store can hold the seed for minutes)
            workers = [grpc_worker(load, n) for n in range(args.workers)]
            tasks = [asyncio.ensure_future(w) for w in [*workers, nats_worker(load, nc), sessions(load)]]
            try:
                await asyncio.wait_for(load.stop.wait(), timeout=args.seconds)
            except TimeoutError:
                load.stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=STOP_WITHIN_S)
        finally:
            await nc.close()


async def _seeded_unless_stopped(seeding: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run the seed step unless `stop` is set first (then cancel it): whether it finished."""
    seed_task, stop_task = asyncio.ensure_future(seeding), asyncio.ensure_future(stop.wait())
    await asyncio.wait({seed_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in (seed_task, stop_task):
        task.cancel()
    await asyncio.gather(seed_task, stop_task, return_exceptions=True)
    if seed_task.cancelled():
        return False
    seed_task.result()  # a seed that failed fails the run
    return True


def command(
    *,
    targets: Sequence[str],
    nats_url: str,
    token: str,
    run_id: str,
    out: str,
    seconds: float,
    nats_pause: float = 0.04,
) -> list[str]:
    """The command line of a load process (story US-<run>, epic EP-<run>)."""
    argv = [sys.executable, "-m", "bench.load", "--nats", nats_url, "--token", token, "--run", run_id]
    argv += ["--nats-pause", str(nats_pause)]
    argv += ["--story", f"US-{run_id}", "--epic", f"EP-{run_id}", "--out", out, "--seconds", str(seconds)]
    for target in targets:
        argv += ["--target", target]
    return argv


def parser() -> argparse.ArgumentParser:
    """The load's options."""
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    p.add_argument("--target", action="append", required=True, help="host:port (repeat for replicas)")
    p.add_argument("--nats", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--run", required=True, help="prefix of every id and key")
    p.add_argument("--story", required=True)
    p.add_argument("--epic", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--max-ops", type=int, default=200_000)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--nats-pause", type=float, default=0.04, help="seconds between two NATS messages")
    return p


if __name__ == "__main__":
    asyncio.run(run(parser().parse_args()))
