"""The session conformance suite runs every test on every backend (memory, Valkey on a real server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.application.session_services import SessionUseCases, session_use_cases
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
        yield Sessions(uc, store, clock, events, name)
