"""Property test: random operation sequences (with TTLs on an injected clock) against a plain model.

After every step each read (Get of every key, Find, GetSession) matches the model; at the end the change
log read through Watch matches the model's events one for one. Runs on every backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.application.common import RequestMeta
from context_service.application.session_services import SessionUseCases, session_use_cases
from context_service.application.session_watch import WatchQuery
from context_service.domain.errors import Aborted
from context_service.domain.session import EventType, PutItem, SessionOptions
from context_service.local_cluster import LocalCluster
from context_service.local_servers import LocalServer
from tests.conformance.session.backends import memory_opener, valkey_opener
from tests.support.fakes import FixedClock

T = TypeVar("T")
KEYS = ("a", "b", "c", "d", "e")
MAX_ENTRIES = 4
DEFAULT_TTL = 30
META = RequestMeta(correlation_id="property")
SID = "property"
ttls = st.sampled_from([None, 0, 5, 20, 100])


@dataclass
class ModelEntry:
    value: str
    version: int
    revision: int
    expires: int
    created: int


@dataclass
class Model:
    """What the session must hold: live entries, the revision, every logged (type, key, revision)."""

    entries: dict[str, ModelEntry] = field(default_factory=dict)
    revision: int = 0
    log: list[tuple[str, str, int]] = field(default_factory=list)

    def expire(self, now: int) -> None:
        due = sorted((e.expires, k) for k, e in self.entries.items() if 0 < e.expires <= now)
        for _, key in due:
            del self.entries[key]
            self.revision += 1
            self.log.append(("EXPIRE", key, self.revision))

    def write(self, items: list[tuple[str, str, int | None]], now: int) -> None:
        self.expire(now)
        new = sum(1 for k, _, _ in items if k not in self.entries)
        writing = {k for k, _, _ in items}
        over = len(self.entries) + new - MAX_ENTRIES
        victims = sorted((e.revision, k) for k, e in self.entries.items() if k not in writing)
        for _, key in victims[: max(over, 0)]:
            del self.entries[key]
            self.revision += 1
            self.log.append(("EVICT", key, self.revision))
        self.revision += 1
        for key, value, given in items:
            old = self.entries.get(key)
            ttl = DEFAULT_TTL if given is None else given
            self.entries[key] = ModelEntry(
                value,
                1 if old is None else old.version + 1,
                self.revision,
                now + ttl if ttl else 0,
                now if old is None else old.created,
            )
            self.log.append(("SET", key, self.revision))


class SessionMachine(RuleBasedStateMachine):
    """One session driven through the use cases; `opener` picks the backend."""

    opener: Callable[[], Any] = staticmethod(memory_opener())

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.clock = FixedClock()
        store = self.run(self.stack.enter_async_context(self.opener()))
        self.uc: SessionUseCases = session_use_cases(
            store=store, publisher=InMemoryEventPublisher(), clock=self.clock
        )
        self.run(
            self.uc.create.execute(SID, SessionOptions(default_ttl_ms=DEFAULT_TTL, max_entries=MAX_ENTRIES))
        )
        self.model = Model()

    def run(self, step: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await step

        coroutine: Coroutine[Any, Any, T] = wrapped()
        return self.loop.run_until_complete(coroutine)

    @rule(
        key=st.sampled_from(KEYS),
        value=st.integers(0, 99),
        ttl=ttls,
        cas=st.sampled_from([None, "ok", "bad"]),
    )
    def put(self, key: str, value: int, ttl: int | None, cas: str | None) -> None:
        now = self.clock.current
        live = self.model.entries.get(key)
        current = live.version if live is not None and (live.expires == 0 or live.expires > now) else 0
        expected = None if cas is None else current if cas == "ok" else current + 7
        item = PutItem(key, str(value), ttl_ms=ttl, expected_version=expected)
        try:
            self.run(self.uc.put.execute(SID, [item], META, batch=False))
        except Aborted:
            assert cas == "bad"
            return
        assert cas != "bad"
        self.model.write([(key, str(value), ttl)], now)

    @rule(keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True), ttl=ttls)
    def batch_put(self, keys: list[str], ttl: int | None) -> None:
        items = [PutItem(k, f'"{k}"', ttl_ms=ttl) for k in keys]
        self.run(self.uc.put.execute(SID, items, META, batch=True))
        self.model.write([(k, f'"{k}"', ttl) for k in keys], self.clock.current)

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        result = self.run(self.uc.delete.execute(SID, key, None, META))
        now = self.clock.current
        self.model.expire(now)
        assert result.deleted == (key in self.model.entries)
        if key in self.model.entries:
            del self.model.entries[key]
            self.model.revision += 1
            self.model.log.append(("DELETE", key, self.model.revision))
        assert result.revision == self.model.revision

    @rule(ms=st.integers(0, 40))
    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule()
    def sweep(self) -> None:
        self.run(self.uc.sweep.execute())
        self.model.expire(self.clock.current)

    @invariant()
    def reads_match_the_model(self) -> None:
        now = self.clock.current
        live = {k: e for k, e in self.model.entries.items() if e.expires == 0 or e.expires > now}
        got = self.run(self.uc.get.execute(SID, list(KEYS), "keys"))
        assert {
            e.key: (e.value_json, e.version, e.revision, e.expires_at_ms, e.created_at_ms) for e in got
        } == {k: (e.value, e.version, e.revision, e.expires, e.created) for k, e in live.items()}
        page, _ = self.run(self.uc.find.execute(SID, "*", "", 0, ""))
        assert [e.key for e in page.entries] == sorted(live)
        info = self.run(self.uc.get_session.execute(SID))
        assert (info.revision, info.entry_count) == (self.model.revision, len(live))

    @precondition(lambda self: self.model.revision > 1)
    @invariant()
    def the_watch_stream_matches_the_model_log(self) -> None:
        async def read() -> list[tuple[str, str, int]]:
            stream = self.uc.watch.execute(WatchQuery(SID, after_revision=1))
            seen: list[tuple[str, str, int]] = []
            async with asyncio.timeout(5):
                while len(seen) < len(self.model.log) - self._first_revision_events():
                    event = await anext(stream)
                    if event.type is not EventType.PROGRESS:
                        seen.append((event.type.name, event.key, event.revision))
            await stream.aclose()
            return seen

        assert self.run(read()) == [e for e in self.model.log if e[2] > 1]

    def _first_revision_events(self) -> int:
        return sum(1 for e in self.model.log if e[2] == 1)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


SETTINGS = settings(
    max_examples=30, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
)


def test_memory_store_matches_the_model() -> None:
    run_state_machine_as_test(SessionMachine, settings=SETTINGS)


def test_valkey_store_matches_the_model(valkey: LocalServer) -> None:
    class ValkeyMachine(SessionMachine):
        opener = staticmethod(valkey_opener(valkey))

    # Fewer examples: each step is a few real round trips (the memory run explores more sequences).
    run_state_machine_as_test(ValkeyMachine, settings=settings(SETTINGS, max_examples=15))


def test_valkey_cluster_store_matches_the_model(valkey_cluster: LocalCluster) -> None:
    class ClusterMachine(SessionMachine):
        opener = staticmethod(valkey_opener(valkey_cluster))

    run_state_machine_as_test(ClusterMachine, settings=settings(SETTINGS, max_examples=10))
