"""A grpc.aio client in the bench's own process, for what a fixed-body load generator cannot send.

Writes need a fresh id per request and "first read after a write" interleaves two calls, so these run
here; every figure they give is set beside the echo driven by this same client in the same run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from bench.wire import echo_path

Timed = Callable[[], Awaitable[object]]
# A step runs any untimed calls first (a write before a read), then returns the call to time.
Step = Callable[[], Awaitable[Timed]]


@dataclass(frozen=True)
class Driven:
    """Latencies of the timed calls, throughput over the run, and calls that ended non-OK."""

    latencies_ms: list[float]
    rps: float
    failed: int


async def drive(step: Step, requests: int, concurrency: int) -> Driven:
    """`requests` steps with `concurrency` in flight; a non-OK status is counted, never retried."""
    latencies: list[float] = []
    failed = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal failed
        for _ in queue:
            try:
                timed = await step()
                started = time.perf_counter()
                await timed()
                latencies.append((time.perf_counter() - started) * 1000)
            except grpc.aio.AioRpcError:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Driven(latencies, round(requests / (time.perf_counter() - started), 1), failed)


def echo_call(channel: grpc.aio.Channel, reply_bytes: int) -> Timed:
    """One echo call answering `reply_bytes` bytes (identity codecs, like a servicer's serialized reply)."""
    method = channel.unary_unary(echo_path(reply_bytes))
    return lambda: method(b"")


def echo_step(channel: grpc.aio.Channel, reply_bytes: int) -> Step:
    """The echo counterpart of a step: the same client path, the transport's own cost."""
    call = echo_call(channel, reply_bytes)

    async def step() -> Timed:
        return call

    return step


async def run_calls(call: Timed, requests: int, concurrency: int) -> tuple[list[float], float]:
    """`requests` calls of `call` with `concurrency` in flight: each latency in ms, and the wall time in s."""

    async def step() -> Timed:
        return call

    started = time.perf_counter()
    driven = await drive(step, requests, concurrency)
    if driven.failed:
        raise RuntimeError(f"{driven.failed} of {requests} calls failed")
    return driven.latencies_ms, time.perf_counter() - started
