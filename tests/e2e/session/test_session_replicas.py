"""Two service processes on one Valkey and one NATS: a watcher on one sees every change made through the
other, in order; every change is also published on NATS with its `{session_id}:{revision}` message id."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import nats as nats_client
import pytest

from context_service.local_cluster import LocalCluster
from context_service.local_servers import LocalServer, nats_server
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc
from tests.conformance.backends import ValkeyTarget, valkey_target
from tests.e2e.session.support import new_id
from tests.support.process import serve_process, wait_until_serving
from tests.support.servers import start_or_fail

CHANGES = 200
PACE_SECONDS = 0.005
# Generous: two processes and the test share two busy cores; the 100 ms target is measured by `make bench`.
P95_BOUND_SECONDS = 1.0


def environment(valkey: ValkeyTarget, nats_server: LocalServer) -> dict[str, str]:
    """Memory graph, sessions and KV on Valkey (a node or a cluster) under a prefix of this test, NATS on
    the shared broker."""
    env = {
        **os.environ,
        "GRAPH_BACKEND": "memory",
        "KV_BACKEND": "valkey",
        "VALKEY_URL": valkey.url,
        "VALKEY_CLUSTER": str(isinstance(valkey, LocalCluster)).lower(),
        "KV_KEY_PREFIX": f"replicas-{uuid.uuid4().hex[:8]}:",
        "ENABLE_NATS": "true",
        "NATS_URL": nats_server.url,
        "GRPC_HOST": "127.0.0.1",
        "METRICS_ENABLED": "false",
        "OTEL_TRACES_EXPORTER": "none",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return env


async def watch_all(stub: pb_grpc.SessionContextServiceStub, sid: str, ready: asyncio.Event,
                    arrived: dict[int, float], order: list[int]) -> None:  # fmt: skip
    call = stub.Watch(pb.WatchRequest(session_id=sid, include_initial=True))
    async for response in call:
        if response.type == pb.EVENT_TYPE_PROGRESS:
            ready.set()
            continue
        arrived[response.revision] = time.perf_counter()
        order.append(response.revision)
        if len(order) == CHANGES:
            call.cancel()
            return


class Published:
    """The Nats-Msg-Id of every notification received; `all` is set once CHANGES distinct ones have come.

    A plain subscriber sees every send: when the outbox relay re-sends a record whose first send was still
    awaiting JetStream's acknowledgement, it sees that one twice (the stream keeps one, by its id).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.all = asyncio.Event()

    async def collect(self, message: nats_client.aio.msg.Msg) -> None:
        """Subscription callback."""
        self.ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        if len(set(self.ids)) >= CHANGES:
            self.all.set()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[LocalServer]:
    """A NATS server of this test alone: the shared one carries every other suite's durables."""
    server = start_or_fail(nats_server(tmp_path / "nats"))
    yield server
    server.stop()


@pytest.mark.parametrize("valkey_name", ["valkey", "valkey-cluster"])
async def test_a_watcher_on_one_process_sees_every_change_made_through_another_in_order(
    tmp_path: Path, valkey_name: str, private_nats: LocalServer, request: pytest.FixtureRequest
) -> None:
    env, sid = environment(valkey_target(valkey_name, request), private_nats), new_id()
    broker = await nats_client.connect(private_nats.url)
    published = Published()
    await broker.subscribe(f"context.session.{sid}.changed", cb=published.collect)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with serve_process(env, log_a) as (pa, a), serve_process(env, log_b) as (pb_, b):
        await wait_until_serving(a, pa, log_path=log_a)
        await wait_until_serving(b, pb_, log_path=log_b)
        async with grpc.aio.insecure_channel(a) as ca, grpc.aio.insecure_channel(b) as cb:
            writer, reader = pb_grpc.SessionContextServiceStub(ca), pb_grpc.SessionContextServiceStub(cb)
            ready, arrived, order = asyncio.Event(), dict[int, float](), list[int]()
            watcher = asyncio.create_task(watch_all(reader, sid, ready, arrived, order))
            await asyncio.wait_for(ready.wait(), 10)
            sent: dict[int, float] = {}
            for i in range(CHANGES):
                started = time.perf_counter()
                put = await writer.Put(pb.PutRequest(session_id=sid, key=f"k{i % 7}", value_json=str(i)))
                sent[put.entry.revision] = started
                await asyncio.sleep(PACE_SECONDS)
            await asyncio.wait_for(watcher, 20)
            await asyncio.wait_for(published.all.wait(), 10)
    await broker.close()
    assert sorted(set(published.ids)) == sorted(f"{sid}:{r}" for r in range(1, CHANGES + 1))
    assert order == list(range(1, CHANGES + 1))
    delays = sorted(arrived[r] - sent[r] for r in order)
    p50, p95 = statistics.median(delays), delays[int(len(delays) * 0.95) - 1]
    print(
        f"\ncross-process watch delivery, {CHANGES} changes: p50 {p50 * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms"
    )
    assert p95 < P95_BOUND_SECONDS
