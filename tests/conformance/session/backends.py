"""How the session conformance suite opens each SessionStore; a backend added here runs the whole suite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from context_service.adapters.memory.session import InMemorySessionStore
from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.ports.session import SessionStore
from tests.conformance.backends import ValkeyTarget, valkey_client

# retention: how many revisions each session's change log keeps (small, so trimming is testable).
RETENTION = 50
IDLE_MS = 3_600_000
Opener = Callable[[], AbstractAsyncContextManager[SessionStore]]


def memory_opener() -> Opener:
    """A fresh in-memory store per test."""

    @asynccontextmanager
    async def open_store() -> AsyncIterator[SessionStore]:
        yield InMemorySessionStore(retention=RETENTION, idle_ms=IDLE_MS)

    return open_store


def valkey_opener(server: ValkeyTarget) -> Opener:
    """The Valkey store under a key prefix of its own (isolation on the shared session server or cluster)."""

    @asynccontextmanager
    async def open_store() -> AsyncIterator[SessionStore]:
        prefix = f"ctx:test:{uuid.uuid4().hex}:"
        async with valkey_client(server) as client, valkey_client(server) as watch:
            yield ValkeySessionStore(
                client=client, watch_client=watch, prefix=prefix, retention=RETENTION, idle_ms=IDLE_MS
            )

    return open_store
