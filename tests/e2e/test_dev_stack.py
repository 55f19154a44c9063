"""`context-service dev`: the local real stack keeps data between runs and stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.local_servers import free_port
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "context_service"]
START_TIMEOUT_S = 60


@contextmanager
def dev_stack(
    data_dir: Path, port: int, log: Path, *, reset: bool = False, cluster: bool = False
) -> Iterator[None]:
    """Run `context-service dev` until the block ends, then stop it with Ctrl-C (SIGINT)."""
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    argv = [*CLI, "dev", "--data-dir", str(data_dir), "--port", str(port), "--metrics-port", "0"]
    argv += ["--reset"] if reset else []
    argv += ["--cluster"] if cluster else []
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_serving(port, process)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    assert process.returncode == 0, f"context-service dev exited with {process.returncode}"


def _wait_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, "context-service dev exited during start-up"
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    pytest.fail(f"context-service dev did not serve on {port} within {START_TIMEOUT_S}s")


def _started_servers(log: Path) -> list[tuple[str, int]]:
    """(name, port) of every local server the runs logged."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and '"local_server_started"' in line:
            event = json.loads(line)
            found.append((event["server"], int(urlparse(event["url"]).port or 0)))
    return found


def start_task(story_id: str, task_id: str) -> pb.UpdateContextRequest:
    """A developer marking a demo subtask IN_PROGRESS."""
    change = pb.ContextChange(
        operation="UPDATE",
        entity_type="SUBTASK",
        entity_id=task_id,
        payload=json.dumps({"status": "IN_PROGRESS"}),
        reason="started",
    )
    return pb.UpdateContextRequest(story_id=story_id, role="developer", task_id=task_id, changes=[change])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_change_written_through_grpc_is_read_back_after_the_stack_restarts(tmp_path: Path) -> None:
    # Arrange
    data_dir, log, port = tmp_path / "dev", tmp_path / "dev.log", free_port()
    update = start_task("US-101", "T-101-API")
    read = pb.GetContextRequest(story_id="US-101", role="developer", phase="BUILD")
    # Act
    with dev_stack(data_dir, port, log), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        written = context_pb2_grpc.ContextServiceStub(channel).UpdateContext(update, timeout=10)
    with dev_stack(data_dir, port, log), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        context = context_pb2_grpc.ContextServiceStub(channel).GetContext(read, timeout=10).context
        version = context_pb2_grpc.ContextServiceStub(channel).UpdateContext(update, timeout=10).version
    # Assert
    assert "T-101-API [IN_PROGRESS]" in context
    assert version == written.version + 1
    servers = _started_servers(log)
    assert {name for name, _ in servers} >= {"valkey", "falkordb"}
    assert not [s for s in servers if _answers(s[1])], "a local server outlived `context-service dev`"


def test_reset_wipes_the_local_data(tmp_path: Path) -> None:
    # Arrange
    data_dir, log, port = tmp_path / "dev", tmp_path / "dev.log", free_port()
    update = start_task("US-102", "T-102-UI")
    with dev_stack(data_dir, port, log), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = context_pb2_grpc.ContextServiceStub(channel)
        stub.UpdateContext(update, timeout=10)
        before = stub.UpdateContext(update, timeout=10).version
    # Act
    with dev_stack(data_dir, port, log, reset=True), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        after = context_pb2_grpc.ContextServiceStub(channel).UpdateContext(update, timeout=10).version
    # Assert
    assert before == 2
    assert after == 1


def test_dev_cluster_serves_on_a_local_valkey_cluster_and_stops_every_node(tmp_path: Path) -> None:
    # Arrange
    data_dir, log, port = tmp_path / "dev", tmp_path / "dev.log", free_port()
    update = start_task("US-101", "T-101-API")
    metadata = (("idempotency-key", "dev-cluster-1"),)
    # Act
    with (
        dev_stack(data_dir, port, log, cluster=True),
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = context_pb2_grpc.ContextServiceStub(channel)
        first = stub.UpdateContext(update, timeout=10, metadata=metadata)
        retry = stub.UpdateContext(update, timeout=10, metadata=metadata)
    # Assert
    assert retry == first
    servers = _started_servers(log)
    nodes = [p for name, p in servers if name.startswith("valkey-")]
    assert len(nodes) == 6
    assert all(p <= 55535 for p in nodes)  # the cluster bus listens on port + 10000
    assert "valkey" not in {name for name, _ in servers}
    assert not [s for s in servers if _answers(s[1])], "a local server outlived `context-service dev`"
