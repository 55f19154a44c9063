"""The session share of the mixed load: compare-and-set counters and a watcher per session.

Each worker owns one session and one key, `counter`, whose value {"n": n} is written with
`expected_version = n - 1`, so the entry's version equals n exactly when every write applied once. Each
increment carries its own idempotency key and a write whose answer was lost is sent again under it: the
service answers an attempt that landed with its first answer (never ABORTED for its own write, never applied
twice). The watcher records every revision it sees, resuming after the last one.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import TYPE_CHECKING, Any

import grpc

from fleet.context.session.v1 import session_pb2 as spb
from fleet.context.session.v1 import session_pb2_grpc as spb_grpc

if TYPE_CHECKING:
    from bench.load import Load

KEY = "counter"
CAS = "session_cas"
WATCH = "session_watch"


def session_id(run: str, number: int) -> str:
    """The session of the number-th worker."""
    return f"sess-{run}-{number}"


async def session_worker(load: Load, channel: grpc.aio.Channel, number: int) -> None:
    """Increment the worker's counter by compare-and-set until stopped."""
    stub = spb_grpc.SessionContextServiceStub(channel)
    sid, metadata = session_id(load.args.run, number), load.metadata
    create = spb.CreateSessionRequest(session_id=sid)
    call = partial(stub.CreateSession, create, metadata=metadata, timeout=5)
    await load.until_acked("session_create", sid, call)
    n = 1
    while not load.stop.is_set():
        await _increment(load, stub, sid, n)
        n += 1
        await asyncio.sleep(0.05)


async def _increment(load: Load, stub: Any, sid: str, n: int) -> None:
    """Write {"n": n} over version n - 1 under the increment's idempotency key until acknowledged."""
    put = spb.PutRequest(session_id=sid, key=KEY, value_json=json.dumps({"n": n}), expected_version=n - 1)
    headers = (*load.metadata, ("idempotency-key", f"cas-{sid}-{n}"))
    await load.until_acked(CAS, f"{sid}:{n}", partial(stub.Put, put, metadata=headers, timeout=5))


async def session_watcher(load: Load, channel: grpc.aio.Channel, number: int) -> None:
    """Record each revision of the session, resuming after the last one seen; runs until cancelled."""
    stub = spb_grpc.SessionContextServiceStub(channel)
    sid, last = session_id(load.args.run, number), 0
    while True:
        stream = stub.Watch(spb.WatchRequest(session_id=sid, after_revision=last), metadata=load.metadata)
        try:
            async for change in stream:
                if change.revision:
                    last = change.revision
                    load.record(WATCH, f"{sid}:{change.revision}", "OK", 0.0)
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND:  # not created yet: try again shortly
                load.record(WATCH, sid, error.code().name, 0.0)
        finally:
            stream.cancel()
        await asyncio.sleep(0.2)


async def read_counter(target: str, token: str, sid: str) -> tuple[int, int]:
    """(value n, entry version) of a session's counter; (0, 0) when it was never written."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = spb_grpc.SessionContextServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        got = await stub.Get(spb.GetRequest(session_id=sid, key=KEY), metadata=metadata, timeout=10)
    if not got.found:
        return 0, 0
    return int(json.loads(got.entry.value_json)["n"]), int(got.entry.version)
