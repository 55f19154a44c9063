"""Sequenced scenarios (writes, first read after a write), with the echo driven by the same client."""

from __future__ import annotations

from typing import Any

import grpc

from bench.driver import Driven, drive, echo_step
from bench.procs import Process
from bench.scenarios import Sequenced, Stub
from bench.stats import percentiles
from bench.steady import RPC_COUNTER
from fleet.context.v1 import context_pb2_grpc


def _figures(driven: Driven) -> dict[str, Any]:
    return {**percentiles(driven.latencies_ms), "rps": driven.rps, "failed": driven.failed}


async def one_round(service: Process, echo: Process, scenario: Sequenced) -> dict[str, Any]:
    """At 1 client (and at the scenario's concurrency when above 1): service, then echo, same client."""
    async with (
        grpc.aio.insecure_channel(service.target) as service_channel,
        grpc.aio.insecure_channel(echo.target) as echo_channel,
    ):
        stub: Stub = context_pb2_grpc.ContextServiceStub(service_channel)
        step = scenario.make(stub)
        reply = await (await step())()
        reply_bytes = reply.ByteSize()  # type: ignore[attr-defined]
        echo_call = echo_step(echo_channel, reply_bytes)
        codes = service.metric_counts(RPC_COUNTER, "code")
        measured: dict[str, Any] = {"reply_bytes": reply_bytes}
        for clients in sorted({1, scenario.concurrency}):
            measured[f"service_{clients}"] = _figures(await drive(step, scenario.requests, clients))
            measured[f"echo_{clients}"] = _figures(await drive(echo_call, scenario.requests, clients))
        codes = service.metric_counts(RPC_COUNTER, "code") - codes
        measured["non_ok"] = sum(codes.values()) - codes["OK"]
        return measured
