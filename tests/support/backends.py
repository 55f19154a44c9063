"""The service's adapters on real servers: FalkorDB graph, Valkey planning read-models and key-value store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.tokenizer import default_counter
from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.bootstrap import Adapters
from context_service.config import ValkeySettings
from context_service.local_servers import LocalServer
from context_service.ports.system import Clock, IdGenerator

STORE_TIMEOUT_S = 5.0


@asynccontextmanager
async def falkordb_valkey_adapters(
    *, falkordb: LocalServer, valkey: LocalServer, valkey_db: int, clock: Clock, ids: IdGenerator
) -> AsyncIterator[Adapters]:
    """A fresh graph (dropped on exit) and an emptied Valkey database of its own (shared key formats have
    no prefix, so isolation is by database number)."""
    settings = ValkeySettings(VALKEY_URL=f"{valkey.url}/{valkey_db}")
    graph_name = f"golden-{uuid.uuid4().hex}"
    async with (
        FalkorGraph(url=falkordb.url, graph=graph_name, timeout_seconds=STORE_TIMEOUT_S) as graph,
        ValkeyClient(settings=settings, timeout_seconds=STORE_TIMEOUT_S) as client,
    ):
        async with client.call("flushdb") as redis:
            await redis.flushdb()
        try:
            yield Adapters(
                graph=graph,
                planning=ValkeyPlanningStore(client=client),
                kv=ValkeyKeyValueStore(client=client),
                publisher=InMemoryEventPublisher(),
                clock=clock,
                ids=ids,
                tokens=default_counter(),
                probes=(graph, client),
            )
        finally:
            await graph.drop()
