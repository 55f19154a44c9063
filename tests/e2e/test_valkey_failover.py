"""A primary of the Valkey Cluster dies under steady load (idempotent UpdateContext writes, session
compare-and-set increments over gRPC, GetContext reads, KV compare-and-set increments): calls fail only with
UNAVAILABLE while its replica takes over, the service recovers by itself within 10 s of the promotion, no
acknowledged write is lost and no effect is applied twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import nats as nats_client
import pytest
from nats.aio.client import Client

from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.application.common import UPDATED_SUBJECT
from context_service.local_cluster import LocalCluster, valkey_cluster
from context_service.local_servers import LocalServer
from context_service.ports.errors import StoreTimeout, StoreUnavailable, VersionConflict
from fleet.context.session.v1 import session_pb2 as spb
from fleet.context.v1 import context_pb2 as pb
from tests.conformance.backends import valkey_settings
from tests.integration.nats.support import payloads_of, stream_messages
from tests.support.cluster_service import ClusterService, cluster_settings, service_on_cluster
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.failover]
WRITERS = 3
READERS = 2
LOAD_BEFORE_KILL_S = 1.5
LOAD_AFTER_PROMOTION_S = 4.0
RECOVERY_BOUND_S = 10.0
PAUSE_AFTER_ERROR_S = 0.05
COUNTER = "counter"


@dataclass
class Load:
    """What the load saw: acknowledged writes, errors with their time, CAS increments."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    acked: dict[str, list[int]] = field(default_factory=dict)  # story -> acknowledged versions, in order
    keys: dict[str, list[str]] = field(default_factory=dict)  # story -> idempotency keys, in order
    errors: list[tuple[float, str]] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    increments_acked: int = 0
    increments_unsure: int = 0
    session_acked: int = 0
    session_unsure: int = 0

    def failed(self, code: str) -> None:
        """Record one failed call."""
        self.errors.append((time.monotonic(), code))

    def succeeded(self) -> None:
        """Record one successful call."""
        self.successes.append(time.monotonic())


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A 3+3 cluster of this test alone (it kills one of its primaries)."""
    cluster = valkey_cluster(tmp_path / "cluster").start()
    yield cluster
    cluster.stop()


async def write_until_acknowledged(service: ClusterService, load: Load, story: str, n: int) -> None:
    """One logical write: retried with the same idempotency key until acknowledged."""
    key = f"{story}-w{n}"
    while True:
        try:
            reply = await service.add_milestone(story, f"{story}-M-{n}", idempotency_key=key)
        except grpc.aio.AioRpcError as exc:
            load.failed(exc.code().name)
            await asyncio.sleep(PAUSE_AFTER_ERROR_S)
            continue
        load.succeeded()
        load.acked.setdefault(story, []).append(reply.version)
        load.keys.setdefault(story, []).append(key)
        return


async def writer(service: ClusterService, load: Load, story: str) -> None:
    """Sequential idempotent writes on one story (its versions must come out 1, 2, 3 …)."""
    await service.create_story(story)
    n = 0
    while not load.stop.is_set():
        n += 1
        await write_until_acknowledged(service, load, story, n)


async def reader(service: ClusterService, load: Load, stories: list[str]) -> None:
    """GetContext over the stories (planning read-models come from the cluster)."""
    while not load.stop.is_set():
        for story in stories:
            request = pb.GetContextRequest(story_id=story, role="developer", phase="BUILD")
            try:
                await service.stub.GetContext(request)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # a writer may not have created it yet
                    load.failed(exc.code().name)
                    await asyncio.sleep(PAUSE_AFTER_ERROR_S)
                continue
            load.succeeded()


async def incrementer(kv: ValkeyKeyValueStore, load: Load, key: str) -> None:
    """Compare-and-set increments of one counter; an error leaves it unsure whether it applied."""
    while not load.stop.is_set():
        try:
            current = await kv.get_versioned(key)
            count = 0 if current is None else int(current.value["n"])
            await kv.compare_and_set(key, 0 if current is None else current.version, {"n": count + 1})
        except VersionConflict:
            continue  # only after an unsure increment: it had applied
        except (StoreUnavailable, StoreTimeout) as exc:
            load.failed(type(exc).__name__)
            load.increments_unsure += 1
            await asyncio.sleep(PAUSE_AFTER_ERROR_S)
            continue
        load.increments_acked += 1


async def session_incrementer(service: ClusterService, load: Load, session_id: str) -> None:
    """Compare-and-set increments of one session entry over gRPC (Get, then Put at that version)."""
    while not load.stop.is_set():
        try:
            found = await service.sessions.Get(spb.GetRequest(session_id=session_id, key=COUNTER))
            count, version = (int(found.entry.value_json), found.entry.version) if found.found else (0, 0)
            put = spb.PutRequest(
                session_id=session_id, key=COUNTER, value_json=str(count + 1), expected_version=version
            )
            await service.sessions.Put(put)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ABORTED:
                continue  # only after an unsure increment: it had applied
            load.failed(exc.code().name)
            load.session_unsure += 1
            await asyncio.sleep(PAUSE_AFTER_ERROR_S)
            continue
        load.session_acked += 1


def session_on(cluster: LocalCluster, node: LocalServer, run: str) -> str:
    """A session id whose keys live on `node` (so its failover hits the session too)."""
    for n in range(1000):
        candidate = f"fo-{run}-{n}"
        if cluster.primary_of(f"{{sess:{candidate}}}").port == node.port:
            return candidate
    raise AssertionError("no session id maps to the node")


async def until(check: Callable[[], bool], within: float, what: str) -> float:
    """Poll a blocking check in a thread until true; the monotonic time it became true."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {within:g}s")
        await asyncio.sleep(0.05)
    return time.monotonic()


def promoted(cluster: LocalCluster, dead: LocalServer, key: str) -> Callable[[], bool]:
    """True once a live node serves `key` and every live node reports cluster_state:ok."""

    def check() -> bool:
        try:
            cluster.wait_ok(timeout=0.1)
            return cluster.primary_of(key).port != dead.port
        except Exception:  # a node answering mid-failover: not yet
            return False

    return check


async def test_a_primary_dies_under_load_and_the_service_recovers_without_losing_or_repeating_writes(
    private_cluster: LocalCluster, falkordb: LocalServer, nats: LocalServer
) -> None:
    # Arrange
    run = uuid.uuid4().hex[:8]
    stories = [f"FO-{run}-{i}" for i in range(WRITERS)]
    counter = f"ctx:failover:{{{stories[0]}}}:counter"
    victim = private_cluster.primary_of(f"{{{stories[0]}}}")
    session_id = session_on(private_cluster, victim, run)
    load = Load()
    settings = cluster_settings(private_cluster, falkordb, nats)
    async with (
        service_on_cluster(settings) as service,
        ValkeyClient(settings=valkey_settings(private_cluster), timeout_seconds=1.0) as client,
    ):
        kv = ValkeyKeyValueStore(client=client, prefix="")
        tasks = [asyncio.create_task(writer(service, load, s)) for s in stories]
        tasks += [asyncio.create_task(reader(service, load, stories)) for _ in range(READERS)]
        tasks.append(asyncio.create_task(incrementer(kv, load, counter)))
        tasks.append(asyncio.create_task(session_incrementer(service, load, session_id)))
        await asyncio.sleep(LOAD_BEFORE_KILL_S)

        # Act: the primary holding the first story's records (and the session) dies
        victim.kill()
        killed_at = time.monotonic()
        promoted_at = await until(promoted(private_cluster, victim, counter), 30, "promotion")
        await asyncio.sleep(LOAD_AFTER_PROMOTION_S)
        load.stop.set()
        await asyncio.gather(*tasks)

        # Assert: only UNAVAILABLE, and recovery within the bound
        assert {code for _, code in load.errors} <= {"UNAVAILABLE", "StoreUnavailable"}
        last_error = max((t for t, _ in load.errors), default=killed_at)
        assert last_error - promoted_at <= RECOVERY_BOUND_S
        assert any(t > max(last_error, promoted_at) for t in load.successes)

        # Assert: every logical write applied exactly once, in order; a replay returns the stored reply
        for story in stories:
            assert load.acked[story] == list(range(1, len(load.acked[story]) + 1))
            replay = await service.add_milestone(story, f"{story}-M-1", idempotency_key=load.keys[story][0])
            assert replay.version == 1
            fresh = await service.add_milestone(story, f"{story}-M-next", idempotency_key=f"{story}-next")
            assert fresh.version == len(load.acked[story]) + 1

        # Assert: no acknowledged increment lost, none applied twice
        final = await kv.get_versioned(counter)
        assert final is not None
        assert load.increments_acked <= final.value["n"] <= load.increments_acked + load.increments_unsure
        assert final.version == final.value["n"]
        entry = (await service.sessions.Get(spb.GetRequest(session_id=session_id, key=COUNTER))).entry
        assert load.session_acked <= int(entry.value_json) <= load.session_acked + load.session_unsure
        assert entry.version == int(entry.value_json)
        await client.ping()  # the health probe answers again: every primary (the promoted one too) is up

        # Assert: every committed version was announced (no event lost)
        connection = await nats_client.connect(nats.url)
        try:
            await eventually(lambda: _announced_all(connection, stories, load), what="every event")
        finally:
            await connection.close()


async def _announced_all(connection: Client, stories: list[str], load: Load) -> bool:
    payloads = payloads_of(await stream_messages(connection, UPDATED_SUBJECT))
    seen: dict[str, set[int]] = {}
    for p in payloads:
        seen.setdefault(str(p["payload"].get("story_id")), set()).add(int(p["payload"]["version"]))
    return all(seen.get(s, set()) >= set(range(1, len(load.acked[s]) + 2)) for s in stories)
