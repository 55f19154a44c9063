"""Helpers for tests that run the service as a separate process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.local_servers import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING


async def wait_until_serving(
    target: str,
    process: subprocess.Popen[bytes],
    attempts: int = 300,
    credentials: grpc.ChannelCredentials | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll the health service (bounded) until the process reports SERVING; fail if it exits first.

    With `credentials` the poll goes over TLS (a server that requires it refuses a plaintext probe). A failure
    says what the last poll saw and, with `log_path`, ends with the last lines the process logged."""
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    last = "no poll answered"
    async with channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(attempts):
            if process.poll() is not None:
                raise AssertionError(_not_serving(f"the service exited ({process.returncode})", log_path))
            try:
                answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.aio.AioRpcError as exc:
                last = f"the last poll failed: {exc.code().name}"
            else:
                if answer.status == SERVING:
                    return
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
                last = f"the last poll answered {status}"
            await asyncio.sleep(0.1)
    raise AssertionError(_not_serving(f"the service never reported SERVING; {last}", log_path))


def _not_serving(what: str, log_path: Path | None) -> str:
    return what if log_path is None else f"{what}\n{log_tail(log_path)}"


def log_tail(log_path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a process's log, under a heading that names the file."""
    if not log_path.exists():
        return f"(no log at {log_path})"
    with log_path.open(encoding="utf-8", errors="replace") as log:
        tail = deque((line.rstrip("\n") for line in log), maxlen=lines)
    return "\n".join([f"the last lines of {log_path}:", *tail])


@contextmanager
def serve_process(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`context-service serve` on a free port: (process, target). SIGTERM on exit, killed if stuck."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("context-service")), "serve"]
    # A file, not a pipe: a pipe nobody reads would fill up and block the server.
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, env={**env, "GRPC_PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=log_file
        )
    try:
        yield process, f"127.0.0.1:{port}"
    finally:
        terminate(process)


def terminate(process: subprocess.Popen[bytes], timeout: float = 15) -> bool:
    """SIGTERM a process still running and wait for it; kill it when stuck after `timeout` s (True)."""
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False
