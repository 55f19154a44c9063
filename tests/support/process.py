"""Helpers for tests that run the service as a separate process."""

from __future__ import annotations

import asyncio
import subprocess

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


async def wait_until_serving(target: str, process: subprocess.Popen[bytes], attempts: int = 300) -> None:
    """Poll the health service (bounded) until the process reports SERVING; fail if it exits first."""
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(attempts):
            assert process.poll() is None, "the service exited during start-up"
            try:
                if (await health.Check(health_pb2.HealthCheckRequest(), timeout=1)).status == SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the service never reported SERVING")
