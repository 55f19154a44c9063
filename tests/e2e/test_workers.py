"""`serve --workers N` on FalkorDB + Valkey: one port and one /metrics for all workers, and a supervisor that
stops them all when asked, when one of them dies, and when it dies itself.

Each test runs `context-service serve --workers 2` as a process of its own (port 0: the supervisor picks
one) on the session's FalkorDB and Valkey, with a graph and a key prefix of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from context_service.local_servers import LocalServer, free_port
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.support.metrics import Samples, samples_at
from tests.support.process import terminate
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
WORKERS = 2
CONNECTIONS = 24  # new connections spread by the kernel: all on one worker has odds of 2**-23
GRACE_SECONDS = 3


@dataclass(frozen=True)
class Supervised:
    """A `serve --workers 2` process and its JSON log file (its workers write there too)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far."""
        text = self.log_path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def line(self, event: str) -> dict[str, Any]:
        """The first line of `event`."""
        return next(line for line in self.lines() if line["event"] == event)

    def ready_workers(self) -> set[int]:
        """The workers that reported themselves serving."""
        return {ln["worker"] for ln in self.lines() if ln["event"] == "readiness" and ln["serving"]}

    @property
    def target(self) -> str:
        """host:port every worker serves."""
        return f"127.0.0.1:{self.line('workers_started')['port']}"

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return list(self.line("workers_started")["pids"])

    def metrics(self) -> Samples:
        """The supervisor's /metrics: each sample by name and labels."""
        return samples_at(self.line("workers_started")["metrics_port"])


@pytest.fixture
def env(falkordb: LocalServer, valkey: LocalServer) -> dict[str, str]:
    """The service's settings on the session's stores, in a graph and key prefix of this test."""
    run = uuid.uuid4().hex[:8]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GRPC_", "METRICS_"))}
    return {
        **base,
        "GRAPH_BACKEND": "falkordb",
        "FALKORDB_URL": falkordb.url,
        "FALKORDB_GRAPH": f"workers-{run}",
        "KV_BACKEND": "valkey",
        "VALKEY_URL": valkey.url,
        "KV_KEY_PREFIX": f"workers-{run}:",
        "ENABLE_NATS": "false",
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "LOG_FORMAT": "json",
    }


@contextmanager
def supervisor(env: dict[str, str], log_path: Path, *args: str) -> Iterator[Supervised]:
    """`context-service serve --workers 2 *args`; SIGTERM on exit (killed with its workers if stuck)."""
    command = [sys.executable, "-m", "context_service", "serve", "--workers", str(WORKERS), *args]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
    supervised = Supervised(process, log_path)
    try:
        yield supervised
    finally:
        if terminate(process, timeout=30):
            for pid in _pids_or_none(supervised):
                _kill(pid)


def _pids_or_none(supervised: Supervised) -> list[int]:
    try:
        return supervised.pids
    except StopIteration:
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def both_ready(supervised: Supervised) -> None:
    """Wait until every worker reports SERVING (the supervisor must not have ended)."""

    def ready() -> bool:
        assert supervised.process.poll() is None, supervised.log_path.read_text()
        return supervised.ready_workers() == set(range(WORKERS))

    await eventually(ready, within=60, what="every worker serving")


async def test_workers_share_the_port_the_stores_and_one_metrics_endpoint(
    env: dict[str, str], tmp_path: Path
) -> None:
    with supervisor(env, tmp_path / "serve.log") as supervised:
        await both_ready(supervised)
        story = f"US-W-{uuid.uuid4().hex[:6]}"
        async with grpc.aio.insecure_channel(supervised.target) as channel:
            await pb_grpc.ContextServiceStub(channel).CreateStory(
                pb.CreateStoryRequest(story_id=story, title="Shared by the workers")
            )
        checks = 0
        for _ in range(CONNECTIONS):  # a new channel is a new connection, placed by the kernel
            async with grpc.aio.insecure_channel(supervised.target) as channel:
                stub = pb_grpc.ContextServiceStub(channel)
                verdict = await stub.ValidateScope(
                    pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=[])
                )
                context = await stub.GetContext(
                    pb.GetContextRequest(story_id=story, role="developer", phase="BUILD")
                )
                checks += 1
            assert verdict.reason  # an answer, not an empty default
            assert story in context.context  # whichever worker answered reads the story written
        rpc_lines = [ln for ln in supervised.lines() if ln["event"] == "rpc" and ln["method"] == "GetContext"]
        await asyncio.sleep(1.5)  # the workers write their sampled gauges every second
        samples = supervised.metrics()

    served_by = Counter(line["worker"] for line in rpc_lines)
    assert set(served_by) == set(range(WORKERS))  # the kernel spread the connections over both
    assert samples[
        ("context_grpc_requests_total", frozenset({("method", "ValidateScope"), ("code", "OK")}))
    ] == (checks)
    assert samples[
        ("context_grpc_requests_total", frozenset({("method", "GetContext"), ("code", "OK")}))
    ] == (checks)
    # Gauges are summed over live workers, with no per-process label; the task count reaches the supervisor
    # only because each worker writes its function-read gauges (a scrape there cannot call them).
    assert samples[("context_event_loop_tasks", frozenset())] > 0
    assert not any(("pid", str(pid)) in labels for (_, labels) in samples for pid in supervised.pids)
    assert supervised.process.returncode == 0  # SIGTERM: every worker drained and exited 0
    assert not any(alive(pid) for pid in supervised.pids)
    stopped = [line for line in supervised.lines() if line["event"] == "worker_stopped"]
    assert sorted(line["pid"] for line in stopped) == sorted(supervised.pids)
    assert all(line["code"] == 0 for line in stopped)


async def test_a_worker_that_dies_stops_the_others_and_fails_the_supervisor(
    env: dict[str, str], tmp_path: Path
) -> None:
    with supervisor(env, tmp_path / "serve.log") as supervised:
        await both_ready(supervised)
        victim, other = supervised.pids
        os.kill(victim, signal.SIGKILL)
        code = await asyncio.to_thread(supervised.process.wait, 30)

    assert code == 128 + signal.SIGKILL  # as a shell reports a process killed by a signal
    assert not alive(other)
    exited = supervised.line("worker_exited")
    assert (exited["pid"], exited["code"]) == (victim, -signal.SIGKILL)
    assert supervised.line("worker_stopped")["pid"] == other  # told to stop, and drained
    assert supervised.line("worker_stopped")["code"] == 0


async def test_workers_stop_when_their_supervisor_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    with supervisor(env, tmp_path / "serve.log") as supervised:
        await both_ready(supervised)
        supervised.process.kill()
        supervised.process.wait()

        await eventually(
            lambda: not any(alive(pid) for pid in supervised.pids),
            within=GRACE_SECONDS + 20,
            what="both workers ended",
        )
    # Each drained as on SIGTERM (sent by the kernel when their parent died).
    assert {ln["worker"] for ln in supervised.lines() if ln["event"] == "grpc_stopped"} == set(range(WORKERS))


def test_a_port_another_program_holds_fails_the_start_with_one_line(env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "context_service", "serve", "--workers", "2"],
            env={**env, "GRPC_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2
    printed = [line for line in done.stderr.splitlines() if line.startswith("context-service:")]
    assert printed == [f"context-service: cannot bind the gRPC port 127.0.0.1:{port}: Address already in use"]
    assert "workers_started" not in done.stderr


def test_workers_on_stores_they_cannot_share_are_refused(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "context_service", "serve", "--workers", "2"],
        env={**env, "GRAPH_BACKEND": "memory", "KV_BACKEND": "memory"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "context-service: --workers 2: several workers need stores they share" in done.stderr
