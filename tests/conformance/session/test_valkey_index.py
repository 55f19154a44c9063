"""The Valkey session store's id index is a hint: ids whose session keys have expired are skipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.domain.session import PutItem, SessionOptions
from tests.conformance.backends import ValkeyTarget, raw_client, valkey_client, valkey_target

NOW_MS = 1_000
BACKENDS = ["valkey", "valkey-cluster"]


@asynccontextmanager
async def session_store(
    request: pytest.FixtureRequest, backend: str
) -> AsyncIterator[tuple[ValkeySessionStore, str, ValkeyTarget]]:
    """A session store under a prefix of its own on the backend's server: (store, prefix, server)."""
    server = valkey_target(backend, request)
    prefix = f"ctx:test:{uuid.uuid4().hex}:"
    async with valkey_client(server) as client:
        yield ValkeySessionStore(client=client, prefix=prefix), prefix, server


@pytest.mark.parametrize("backend", BACKENDS)
async def test_list_sessions_skips_and_forgets_ids_whose_session_keys_expired(
    request: pytest.FixtureRequest, backend: str
) -> None:
    base = f"s-{uuid.uuid4().hex[:12]}"
    ids = [f"{base}-{n}" for n in range(5)]
    async with session_store(request, backend) as (store, prefix, server):
        for session_id in ids:
            await store.create_session(session_id, SessionOptions(), NOW_MS)
        raw = raw_client(server)
        for gone in (ids[1], ids[3]):  # as when a session's keys outlive their idle and tombstone time
            await raw.delete(f"{prefix}{{sess:{gone}}}:meta")
        first = await store.list_sessions(base, "", 2, NOW_MS)
        rest = await store.list_sessions(base, first[-1].session_id, 10, NOW_MS)
        indexed = await raw.zrange(f"{prefix}sess:ids", 0, -1)
        await raw.aclose()
    assert [s.session_id for s in first + rest] == [ids[0], ids[2], ids[4]]
    assert sorted(indexed) == [ids[0], ids[2], ids[4]]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_reads_and_writes_work_after_the_server_forgets_its_scripts(
    request: pytest.FixtureRequest, backend: str
) -> None:
    sid = f"s-{uuid.uuid4().hex[:12]}"
    async with session_store(request, backend) as (store, _prefix, server):
        await store.put(sid, [PutItem("a", "1")], NOW_MS)
        raw = raw_client(server)
        await raw.script_flush()  # as on a freshly promoted replica
        await raw.aclose()
        written = await store.put(sid, [PutItem("a", "2")], NOW_MS)
        found = await store.get(sid, ["a"], NOW_MS)
    assert [(e.value_json, e.version) for e in written.entries] == [("2", 2)]
    assert [(e.value_json, e.version) for e in found] == [("2", 2)]
