"""Pushed notice of key changes (CLIENT TRACKING) on real Valkey and FalkorDB servers.

The fence is the point: right after another connection's write returns, the next `caught_up` must already
count it (no sleep anywhere here). A lost tracking connection must be noticed, and tracking must resume.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.valkey import tracking
from context_service.adapters.valkey.tracking import CLIENT_NAME, BothCaught, KeyTracking
from context_service.local_servers import LocalServer
from context_service.observability.metrics import REGISTRY

pytestmark = pytest.mark.integration


@pytest.fixture
async def writer(valkey: LocalServer) -> AsyncIterator[Redis]:
    async with Redis.from_url(valkey.url, decode_responses=True) as client:
        yield client


@pytest.fixture
def prefix() -> str:
    return f"kt:{uuid.uuid4().hex}:"


@pytest.fixture
async def tracker(valkey: LocalServer, prefix: str) -> AsyncIterator[KeyTracking]:
    watched = KeyTracking(
        name="test",
        url=valkey.url,
        prefixes=[prefix],
        timeout_seconds=2.0,
        ignore=lambda key: key.endswith(":ignored"),
    )
    async with watched:
        yield watched


async def test_a_write_is_counted_by_the_next_fence(tracker: KeyTracking, writer: Redis, prefix: str) -> None:
    assert await tracker.caught_up()
    before = tracker.generation
    assert await tracker.caught_up()
    assert tracker.generation == before  # nothing changed: nothing counted
    for n in range(20):
        await writer.set(f"{prefix}k{n % 3}", n)
        assert await tracker.caught_up()
        assert tracker.generation > before, f"write {n} not counted by the fence after it"
        before = tracker.generation


async def test_keys_outside_the_prefixes_and_ignored_keys_count_for_nothing(
    tracker: KeyTracking, writer: Redis, prefix: str
) -> None:
    assert await tracker.caught_up()
    before = tracker.generation
    await writer.set(f"other:{prefix}k", 1)
    await writer.set(f"{prefix}k:ignored", 1)
    assert await tracker.caught_up()
    assert tracker.generation == before
    await writer.delete(f"{prefix}k:ignored", f"{prefix}k")  # the second key never existed
    assert await tracker.caught_up()
    assert tracker.generation == before
    await writer.set(f"{prefix}k", 2)
    assert await tracker.caught_up()
    assert tracker.generation > before


async def test_a_lost_connection_is_noticed_and_tracking_resumes(
    tracker: KeyTracking, writer: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await tracker.caught_up()
    before = tracker.generation
    clients = await writer.client_list()
    [mine] = [c for c in clients if c["name"] == f"{CLIENT_NAME}-test"]
    await writer.client_kill_filter(_id=mine["id"])
    await writer.set(f"{prefix}k", "while nobody tracked")
    assert not await tracker.caught_up()  # it cannot tell what changed
    assert tracker.generation > before
    assert REGISTRY.get_sample_value("context_cache_tracking", {"server": "test"}) == 0
    assert not await tracker.caught_up()  # no new connection before the retry pause is over
    monkeypatch.setattr(tracking, "RETRY_SECONDS", 0.0)
    monkeypatch.setattr(tracker, "_retry_at", 0.0)
    assert await tracker.caught_up()
    assert REGISTRY.get_sample_value("context_cache_tracking", {"server": "test"}) == 1
    reconnected = tracker.generation
    await writer.set(f"{prefix}k", "tracked again")
    assert await tracker.caught_up()
    assert tracker.generation > reconnected


async def test_a_write_to_the_graph_is_counted_and_other_graphs_are_not(
    falkordb: LocalServer, graph_name: str
) -> None:
    async with (
        FalkorGraph(url=falkordb.url, graph=graph_name) as graph,
        graph.change_tracking() as watched,
        Redis.from_url(falkordb.url) as client,
    ):
        assert await watched.caught_up()
        before = watched.generation
        await client.execute_command("GRAPH.QUERY", f"{graph_name}-other", "CREATE (:Other)")
        assert await watched.caught_up()
        assert watched.generation == before
        await client.execute_command("GRAPH.RO_QUERY", graph_name, "MATCH (n) RETURN count(n)")
        assert await watched.caught_up()
        assert watched.generation == before  # a read changes nothing
        for n in range(20):  # each write, from a worker thread of FalkorDB, counted by the very next fence
            write = f"MERGE (s:Story {{id: 'S-{n % 3}'}}) SET s.n = {n}"
            await client.execute_command("GRAPH.QUERY", graph_name, write)
            assert await watched.caught_up()
            assert watched.generation > before, f"graph write {n} not counted by the fence after it"
            before = watched.generation
        await client.delete(f"{graph_name}-other")


async def test_a_server_that_refuses_tracking_leaves_callers_reading_and_no_connection_open(
    valkey: LocalServer, writer: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"no-tracking-{uuid.uuid4().hex[:8]}"
    await writer.execute_command("ACL", "SETUSER", user, "on", ">secret", "~*", "+@all", "-client|tracking")
    monkeypatch.setattr(tracking, "RETRY_SECONDS", 0.0)
    refused = KeyTracking(
        name="refused",
        url=valkey.url.replace("redis://", f"redis://{user}:secret@"),
        prefixes=[prefix],
        timeout_seconds=2.0,
    )
    try:
        async with refused:
            for _ in range(5):
                assert not await refused.caught_up()
            users = [c["user"] for c in await writer.client_list()]
            assert user not in users  # every refused connection was closed
    finally:
        await writer.execute_command("ACL", "DELUSER", user)


async def test_a_caller_giving_up_midway_leaves_the_fence_to_the_others(
    tracker: KeyTracking, writer: Redis
) -> None:
    assert await tracker.caught_up()
    before = tracker.generation
    await writer.execute_command("CLIENT", "PAUSE", "100", "ALL")  # the PONG held back, within the fence time
    given_up = asyncio.ensure_future(tracker.caught_up())
    kept = asyncio.ensure_future(tracker.caught_up())
    await asyncio.sleep(0.02)

    given_up.cancel()

    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert await kept  # the same PING's answer, not lost with the caller that left
    assert tracker.generation == before  # the connection was kept: nothing may have been missed
    assert REGISTRY.get_sample_value("context_cache_tracking", {"server": "test"}) == 1


async def test_a_server_that_stops_answering_is_given_up_within_the_fence_time_and_tracked_again_after(
    tracker: KeyTracking, writer: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await tracker.caught_up()
    before = tracker.generation
    await writer.execute_command("CLIENT", "PAUSE", str(int(tracking.FENCE_SECONDS * 1000) + 300), "ALL")
    started = time.monotonic()

    answered = await tracker.caught_up()  # its PONG is held back past the fence time

    waited = time.monotonic() - started
    assert not answered  # not the PONG that comes once the pause ends
    assert tracking.FENCE_SECONDS <= waited < 1.5  # not the store's timeout either
    assert tracker.generation > before
    assert REGISTRY.get_sample_value("context_cache_tracking", {"server": "test"}) == 0
    await asyncio.sleep(0.35)  # the pause is over
    monkeypatch.setattr(tracker, "_retry_at", 0.0)
    assert await tracker.caught_up()  # a new connection tracks
    reconnected = tracker.generation
    await writer.set(f"{prefix}k", "after the silence")
    assert await tracker.caught_up()
    assert tracker.generation > reconnected


async def test_many_callers_at_once_each_see_every_write_acknowledged_before_they_asked(
    tracker: KeyTracking, writer: Redis, prefix: str
) -> None:
    assert await tracker.caught_up()

    async def write_then_fence(n: int) -> tuple[int, int]:
        before = tracker.generation
        await writer.set(f"{prefix}k{n}", n)
        assert await tracker.caught_up()
        return before, tracker.generation

    seen = await asyncio.gather(*(write_then_fence(n) for n in range(64)))

    # Each caller's write was acknowledged before it fenced, so its push was read before its PONG.
    assert [n for n, (before, after) in enumerate(seen) if after <= before] == []


async def test_two_trackers_as_one_count_a_write_under_either_by_the_next_fence(
    valkey: LocalServer, writer: Redis
) -> None:
    first_prefix, second_prefix = (f"kt:{uuid.uuid4().hex}:" for _ in "ab")
    first = KeyTracking(name="first", url=valkey.url, prefixes=[first_prefix], timeout_seconds=2.0)
    second = KeyTracking(name="second", url=valkey.url, prefixes=[second_prefix], timeout_seconds=2.0)
    async with first, second:
        both = BothCaught(first, second)
        assert await both.caught_up()  # neither tracks yet: each opens its connection and fences it
        for n in range(10):
            before = both.generation
            await writer.set(f"{(first_prefix, second_prefix)[n % 2]}k", n)
            assert await both.caught_up()
            assert both.generation > before, f"write {n} not counted by the fences after it"
        before = both.generation
        assert await asyncio.gather(*(both.caught_up() for _ in range(32))) == [True] * 32
        assert both.generation == before  # nothing changed: nothing counted
