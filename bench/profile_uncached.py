"""CPU split of the uncached reads ("first read after a write") on local FalkorDB + Valkey, in process.

Seeds the bench's medium and large stories and runs each read scenario's write and read over real gRPC (the
service in this process): CPU ms per read, client and server together. Then the same read's stages, each
called on its own against the same stores: the load statement's reply (transfer and hiredis), its rows
(`reply_rows`), the StoryGraph built from them, rendering (GetContext: sections, redaction, budget fitting
with token counts) or the packs (RehydrateSession), and protobuf encoding. Every figure is process CPU time,
the least of 3 batches (the machine is shared). GRAPH.PROFILE gives the server's side of the load statement.
`python -m bench.profile_uncached [reads]`; `-v` adds cProfile's top functions per scenario. Asserts nothing.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.scenarios import LARGE, MEDIUM, REHYDRATE, get_context, populate, touch_task
from bench.stores import falkordb_valkey_settings, local_stores, serving
from context_service.adapters.cypher import catalogue as q
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.falkordb.replies import reply_rows
from context_service.adapters.grpc import mappers
from context_service.adapters.policy_file import load_policy
from context_service.adapters.tokenizer import default_counter
from context_service.application.get_context import ContextRequest, GetContext
from context_service.application.rehydrate_session import RehydrateRequest, RehydrateSession
from context_service.domain.model import PlanningReadModel
from fleet.context.v1 import context_pb2_grpc

BATCHES = 3
Read = Callable[[], Awaitable[Any]]


async def _cpu_ms(work: Callable[[], Awaitable[Any]], n: int) -> float:
    """The least CPU ms per call of `work` over BATCHES batches of `n` calls."""
    best = float("inf")
    for _ in range(BATCHES):
        started = time.process_time()
        for _ in range(n):
            await work()
        best = min(best, (time.process_time() - started) * 1000 / n)
    return round(best, 2)


def _after_write(write: Callable[[], Any], read: Read) -> Read:
    """`read` timed alone: the write before it runs with the profiler's clock paused."""

    async def step() -> Any:
        paused = time.process_time()
        await write()
        _paused.append(time.process_time() - paused)
        return await read()

    return step


_paused: list[float] = []


async def _end_to_end(write: Callable[[], Any], read: Read, n: int) -> float:
    """CPU ms per read over gRPC, the write before each read not counted."""
    best = float("inf")
    for _ in range(BATCHES):
        _paused.clear()
        started = time.process_time()
        for _ in range(n):
            await _after_write(write, read)()
        best = min(best, ((time.process_time() - started) - sum(_paused)) * 1000 / n)
    return round(best, 2)


@contextmanager
def _profiled(enabled: bool) -> Iterator[None]:
    profile = cProfile.Profile(time.process_time)
    if enabled:
        profile.enable()
    yield
    if enabled:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


class Stages:
    """The uncached read's stages, called one by one on the run's stores."""

    def __init__(self, graph: FalkorGraph) -> None:
        self.graph = graph
        policy = load_policy()
        self.tokens = default_counter()
        self.get_context = GetContext(policy=policy, reads=None, tokens=self.tokens)  # type: ignore[arg-type]
        clock = type("Clock", (), {"now_ms": lambda self: 0})()
        self.rehydrate = RehydrateSession(policy=policy, reads=None, handoffs=None, clock=clock)  # type: ignore[arg-type]

    async def split(
        self, story: str, render: Callable[[Any], Any], encode: Callable[[Any], Any], n: int
    ) -> dict[str, float]:
        """CPU ms per call of each stage."""
        db, graph = self.graph._db, self.graph._graph
        text = graph._build_params_header(q.story_params(story)) + q.LOAD_STORY
        reply: list[Any] = []

        async def fetch() -> None:
            reply[:] = await db.execute_command("GRAPH.RO_QUERY", graph.name, text, "--compact")

        await fetch()
        loaded = await self.graph.load_story_graph(story)
        result = render(loaded)

        async def call(work: Callable[[], Any]) -> None:
            work()

        return {
            "reply (transfer, hiredis)": await _cpu_ms(fetch, n),
            "rows (reply_rows)": await _cpu_ms(lambda: call(lambda: reply_rows(graph, reply)), n),
            "whole load (statement + StoryGraph)": await _cpu_ms(
                lambda: self.graph.load_story_graph(story), n
            ),
            "render / packs": await _cpu_ms(lambda: call(lambda: render(loaded)), n),
            "protobuf encoding": await _cpu_ms(lambda: call(lambda: encode(result)), n),
        }


async def _scenarios(stub: Any, stages: Stages, n: int) -> None:
    medium, large = get_context(MEDIUM, "developer"), get_context(LARGE, "architect")
    planning = PlanningReadModel()

    def context(story: str, role: str) -> Callable[[Any], Any]:
        asked = stages.get_context.validated(ContextRequest(story, role, "BUILD"))
        return lambda loaded: stages.get_context._render(asked, loaded, planning)

    roles = tuple(REHYDRATE.roles)
    asked = stages.rehydrate._validated(RehydrateRequest(LARGE, roles, include_timeline=True))
    packs = lambda loaded: stages.rehydrate._build(asked, loaded, planning)  # noqa: E731
    gc, rh = mappers.finished_context, mappers.finished_rehydration
    scenarios = (
        (
            "GetContext medium developer",
            MEDIUM,
            lambda: stub.GetContext(medium),
            context(MEDIUM, "developer"),
            gc,
        ),
        (
            "GetContext large architect",
            LARGE,
            lambda: stub.GetContext(large),
            context(LARGE, "architect"),
            gc,
        ),
        ("RehydrateSession large, 5 roles", LARGE, lambda: stub.RehydrateSession(REHYDRATE), packs, rh),
    )
    for label, story, read, render, encode in scenarios:
        write = touch_task(stub, story)
        await _end_to_end(write, read, 3)  # warm-up
        total = await _end_to_end(write, read, n)
        print(f"\n## {label}: {total} CPU ms per read over gRPC (client and server in this process)")
        for stage, ms in (await stages.split(story, render, encode, n)).items():
            print(f"- {stage}: {ms} ms")
        with _profiled("-v" in sys.argv):
            for _ in range(n):
                await _after_write(write, read)()


async def _server_profile(db: Any, graph: Any, story: str) -> None:
    text = graph._build_params_header(q.story_params(story)) + q.LOAD_STORY
    plan = await db.execute_command("GRAPH.PROFILE", graph.name, text)
    print(f"\n## GRAPH.PROFILE of the load of {story}")
    for line in plan:
        print("   ", line)


async def main(n: int) -> None:
    """Seed, then measure each uncached read scenario."""
    with local_stores() as stores:
        settings = falkordb_valkey_settings(stores)
        async with (
            serving(settings) as channel,
            FalkorGraph(url=settings.falkordb.url, graph=settings.falkordb.graph) as graph,
        ):
            stub = context_pb2_grpc.ContextServiceStub(channel)
            await populate(stub, MEDIUM, 20, 10)
            await populate(stub, LARGE, 200, 100)
            await _scenarios(stub, Stages(graph), n)
            for story in (MEDIUM, LARGE):
                await _server_profile(graph._db, graph._graph, story)


if __name__ == "__main__":
    asyncio.run(main(int(next((a for a in sys.argv[1:] if a.isdigit()), "30"))))
