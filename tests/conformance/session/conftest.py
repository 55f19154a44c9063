"""The session conformance suite runs every test on every backend (memory, Valkey on a real server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

import pytest

from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.application.session_services import SessionUseCases, session_use_cases
from context_service.application.session_watch import WatchQuery
from context_service.domain.session import ChangeEvent
from context_service.ports.session import SessionStore
from tests.conformance.backends import valkey_target
from tests.conformance.session.backends import memory_opener, valkey_opener
from tests.support.fakes import FixedClock

PROGRESS_SECONDS = 0.3


@dataclass
class Sessions:
    """The use cases over one backend, with the clock and published events they use."""

    uc: SessionUseCases
    store: SessionStore
    clock: FixedClock
    events: InMemoryEventPublisher
    backend: str
    _streams: list[AsyncGenerator[ChangeEvent]] = field(default_factory=list)
    _pending: list[asyncio.Future[ChangeEvent]] = field(default_factory=list)

    def watch(self, query: WatchQuery) -> AsyncGenerator[ChangeEvent]:
        """A watch the fixture closes after the test."""
        stream = self.uc.watch.execute(query)
        self._streams.append(stream)  # type: ignore[arg-type]
        return stream  # type: ignore[return-value]

    async def started(self, query: WatchQuery) -> AsyncIterator[ChangeEvent]:
        """A watch whose starting point is fixed before the test writes (its first step runs eagerly)."""
        stream = self.watch(query)
        first = asyncio.ensure_future(anext(stream))
        self._pending.append(first)
        await asyncio.sleep(0.05)

        async def chained() -> AsyncIterator[ChangeEvent]:
            yield await first
            async for event in stream:
                yield event

        return chained()

    async def close(self) -> None:
        """End every watch the test opened (before its store closes)."""
        for pending in self._pending:
            pending.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        for stream in self._streams:
            await stream.aclose()

    @staticmethod
    def new_id() -> str:
        """A session id no other test uses."""
        return f"s-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", "valkey", "valkey-cluster"])
async def sessions(request: pytest.FixtureRequest) -> AsyncIterator[Sessions]:
    """Session use cases over the backend named by the parameter (Valkey: one node, then a 3+3 cluster)."""
    name = request.param
    opener = memory_opener() if name == "memory" else valkey_opener(valkey_target(name, request))
    clock = FixedClock()
    events = InMemoryEventPublisher()
    async with opener() as store:
        uc = session_use_cases(store=store, publisher=events, clock=clock, progress_seconds=PROGRESS_SECONDS)
        sessions = Sessions(uc, store, clock, events, name)
        try:
            yield sessions
        finally:
            await sessions.close()
