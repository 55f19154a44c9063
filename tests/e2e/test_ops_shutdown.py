"""`context-service serve` under load gets SIGTERM: admitted calls finish OK, the rest are UNAVAILABLE."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.e2e.builders import change, update_request
from tests.support.process import serve_process, wait_until_serving

GRACE_SECONDS = 5
CLIENTS = 50
STORY = "US-101"  # from the demo project
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
MILESTONE = {"event_type": "review", "description": "Load test checkpoint"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """The service as a subprocess (in-memory backend, demo seeded, JSON logs to a file)."""
    env = {
        **os.environ,
        "GRAPH_BACKEND": "memory",
        "ENABLE_NATS": "false",
        "GRPC_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "SEED_DEMO": "true",
        "LOG_FORMAT": "json",
    }
    log_path = tmp_path / "stderr.jsonl"
    with serve_process(env, log_path) as (process, target):
        yield process, target, log_path


async def client(target: str, number: int, ok: list[int]) -> list[grpc.StatusCode]:
    """Alternate GetContext and UpdateContext until a call is not OK; the status of every call."""
    read = pb.GetContextRequest(story_id=STORY, role="developer", phase="BUILD")
    codes: list[grpc.StatusCode] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.ContextServiceStub(channel)
        for step in itertools.count():
            write = update_request(
                change("CREATE", "MILESTONE", f"M-{number}-{step}", MILESTONE), story_id=STORY
            )
            try:
                await (
                    stub.GetContext(read, timeout=10) if step % 2 else stub.UpdateContext(write, timeout=10)
                )
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
                return codes
            codes.append(grpc.StatusCode.OK)
            ok[0] += 1
    raise AssertionError("unreachable")


async def health_until_not_serving(target: str) -> list[int]:
    """Watch the overall health until it reports NOT_SERVING (then stop watching, so shutdown can finish)."""
    async with grpc.aio.insecure_channel(target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        seen = [(await watch.read()).status]
        while seen[-1] != NOT_SERVING:
            seen.append((await watch.read()).status)
        watch.cancel()
        return seen


async def test_sigterm_under_load_finishes_admitted_calls_and_refuses_the_rest_cleanly(
    served: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, target, log_path = served
    await wait_until_serving(target, process, log_path=log_path)
    ok = [0]
    watcher = asyncio.ensure_future(health_until_not_serving(target))
    clients = [asyncio.ensure_future(client(target, n, ok)) for n in range(CLIENTS)]
    for _ in range(1000):  # bounded: let the load build up before the signal
        if ok[0] >= 5 * CLIENTS:
            break
        await asyncio.sleep(0.01)

    process.send_signal(signal.SIGTERM)
    codes = await asyncio.wait_for(asyncio.gather(*clients), timeout=30)
    health = await asyncio.wait_for(watcher, timeout=30)
    exit_code = await asyncio.to_thread(process.wait, GRACE_SECONDS)

    assert exit_code == 0
    assert health == [SERVING, NOT_SERVING]
    assert ok[0] >= 5 * CLIENTS
    assert all(set(calls[:-1]) == {grpc.StatusCode.OK} or len(calls) == 1 for calls in codes)
    assert {calls[-1] for calls in codes} == {grpc.StatusCode.UNAVAILABLE}
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
    canonical = [line for line in lines if line["event"] == "rpc"]
    assert {line["code"] for line in canonical} == {"OK"}
    assert len(canonical) >= ok[0]  # every answered call's line, also those written after the signal
    assert not [line for line in lines if line["level"] in {"error", "critical"}]
