"""The session service under the same operations as v1: token auth, RPC metrics, watch and sweeper metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from context_service.adapters.grpc.interceptors import MetricsInterceptor, TokenAuthInterceptor
from context_service.adapters.grpc.security import TokenFile
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.session import InMemorySessionStore
from context_service.adapters.session_sweeper import SessionSweeper
from context_service.application.session_notify import SessionNotifier
from context_service.application.session_watch import SweepSessions
from context_service.bootstrap import memory_adapters
from context_service.client.session import SessionClient
from context_service.domain.session import SweepResult
from context_service.observability.metrics import REGISTRY
from context_service.ports.session import NoticeFor
from fleet.context.session.v1 import session_pb2 as pb
from tests.e2e.session.support import PROGRESS, WAIT, new_id, status_of, take
from tests.support.fakes import FixedClock
from tests.support.harness import running_service

TOKEN = "session-token-0123456789"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_session_rpcs_need_an_accepted_bearer_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    auth = TokenAuthInterceptor(tokens=TokenFile(path=tokens, recheck_seconds=0))
    async with running_service(interceptors=[auth], sessions=PROGRESS) as svc:
        sid = new_id()
        code, _ = await status_of(svc.sessions.Put(pb.PutRequest(session_id=sid, key="k", value_json="1")))
        assert code is grpc.StatusCode.UNAUTHENTICATED
        async with SessionClient(svc.server_address, sid, token=TOKEN) as session:
            await session.set("k", 1)
            assert await session.get("k") == 1


async def test_rpcs_watchers_and_sent_events_are_measured() -> None:
    async with running_service(interceptors=[MetricsInterceptor()], sessions=PROGRESS) as svc:
        sid = new_id()
        puts = sample("context_grpc_requests_total", method="Put", code="OK")
        sent = sample("context_session_watch_events_total", type="SET")
        call = svc.sessions.Watch(pb.WatchRequest(session_id=sid))
        await take(call, 1, skip_progress=False)  # the first PROGRESS: the watch is open
        assert sample("context_session_watchers") >= 1
        assert sample("context_session_watch_readers") >= 1  # the watch shares its session's one reader
        await svc.sessions.Put(pb.PutRequest(session_id=sid, key="k", value_json="1"))
        await take(call, 1)
        call.cancel()
        assert sample("context_grpc_requests_total", method="Put", code="OK") == puts + 1
        assert sample("context_session_watch_events_total", type="SET") == sent + 1


async def test_the_sweeper_counts_its_removals() -> None:
    clock = FixedClock()
    async with running_service(adapters=memory_adapters(clock=clock), sessions=PROGRESS) as svc:
        before = sample("context_session_sweeper_removals_total")
        await svc.sessions.Put(pb.PutRequest(session_id=new_id(), key="k", value_json="1", ttl_ms=10))
        clock.advance(10)
        async with SessionSweeper(sweep=svc.container.sessions.sweep, interval=0.01):
            async with asyncio.timeout(WAIT):
                while sample("context_session_sweeper_removals_total") == before:  # noqa: ASYNC110 — a metric has no event
                    await asyncio.sleep(0.01)
        assert sample("context_session_sweeper_removals_total") == before + 1


class CancelSwallowingStore(InMemorySessionStore):
    """A store whose sweep loses the cancel that arrives during it, as redis-py can on Python 3.11."""

    def __init__(self) -> None:
        super().__init__()
        self.passes = 0
        self.sweeping = asyncio.Event()

    async def sweep(self, now_ms: int, limit: int, notice_for: NoticeFor | None = None) -> list[SweepResult]:
        """Wait in a "driver call" whose first pass returns normally when cancelled."""
        self.passes += 1
        self.sweeping.set()
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            if self.passes > 1:
                raise
        return []


async def test_the_sweeper_stops_even_when_a_pass_swallows_its_cancel() -> None:
    store = CancelSwallowingStore()
    notifier = SessionNotifier(publisher=InMemoryEventPublisher(), store=store)
    sweep = SweepSessions(store=store, notifier=notifier, clock=FixedClock())
    async with asyncio.timeout(WAIT / 2):  # the pass itself would wait WAIT
        async with SessionSweeper(sweep=sweep, interval=0.01):
            await store.sweeping.wait()
    assert store.passes == 1


async def test_open_watches_do_not_use_up_the_concurrency_limit() -> None:
    async with running_service(max_concurrent_rpcs=2, sessions=PROGRESS) as svc:
        sid = new_id()
        calls = [svc.sessions.Watch(pb.WatchRequest(session_id=sid)) for _ in range(4)]
        for call in calls:
            await take(call, 1, skip_progress=False)
        put = await svc.sessions.Put(pb.PutRequest(session_id=sid, key="k", value_json="1"))
        assert put.entry.version == 1
        for call in calls:
            call.cancel()
