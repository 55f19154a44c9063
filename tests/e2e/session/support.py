"""Helpers of the session e2e suites: a service on memory or Valkey, and stream reading with a bound."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.bootstrap import memory_adapters
from context_service.config import SessionSettings
from context_service.local_servers import LocalServer
from fleet.context.session.v1 import session_pb2 as pb
from tests.conformance.backends import valkey_client
from tests.support.harness import Service, running_service

PROGRESS = SessionSettings(SESSION_PROGRESS_SECONDS=0.3)
WAIT = 5.0


def new_id() -> str:
    """A session id no other test uses."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def valkey_service(server: LocalServer, retention: int = 10_000) -> AsyncIterator[Service]:
    """The assembled service with its sessions on Valkey (a key prefix of its own)."""
    prefix = f"ctx:e2e:{uuid.uuid4().hex}:"
    async with valkey_client(server) as client, valkey_client(server) as watch:
        store = ValkeySessionStore(client=client, watch_client=watch, prefix=prefix, retention=retention)
        adapters = dataclasses.replace(memory_adapters(), sessions=store)
        async with running_service(adapters=adapters, sessions=PROGRESS) as service:
            yield service


async def take(call: Any, count: int, *, skip_progress: bool = True) -> list[pb.WatchResponse]:
    """The next `count` responses of a Watch call (PROGRESS skipped unless asked), within a bound."""
    taken: list[pb.WatchResponse] = []
    async with asyncio.timeout(WAIT):
        while len(taken) < count:
            response = await call.read()
            assert response is not grpc.aio.EOF, "the stream ended early"
            if not (skip_progress and response.type == pb.EVENT_TYPE_PROGRESS):
                taken.append(response)
    return taken


async def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    """The status code and details an RPC (awaitable) ends with."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""
