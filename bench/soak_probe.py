"""What the soak samples of a served process: memory, descriptors, threads, event-loop tasks, connections by
peer, Valkey's keys (and how many never expire), the JetStream messages its durables have not acknowledged,
and the load's attempts (acknowledged, failed, latency) in the window since the previous sample."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nats
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from bench.load import unacked
from bench.stack import Served, Stack
from context_service.adapters.nats.handlers import SUBJECTS

TCP_ESTABLISHED = "01"
PEERS = ("gRPC clients", "valkey", "falkordb", "nats", "other")
# The load's gRPC calls, each timed from send to answer (its other records are events, not calls).
TIMED_OPS = frozenset({"get", "update", "task"})


@dataclass(frozen=True)
class Window:
    """The load's attempts between two samples."""

    acked_total: int
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Sample:
    """Every figure at one moment."""

    at_s: float
    rss_mib: float
    fds: int
    threads: int
    tasks: int
    watchers: int
    connections: dict[str, int]
    valkey_keys: int
    valkey_persistent: int
    js_unacked: int
    window: Window


@dataclass
class Probe:
    """Samples one served process on one stack; remembers where the previous window ended."""

    stack: Stack
    served: Served
    metrics_port: int
    attempts: Path
    since: float = 0.0

    async def sample(self, at_s: float, now: float) -> Sample:
        """One sample; the load window is (previous sample, `now`] in wall-clock seconds."""
        pid = self.served.process.pid
        rss, threads = _status(pid)
        inodes = _socket_inodes(pid)
        scraped = await asyncio.to_thread(self._scrape)
        keys, persistent = await self._valkey_keys()
        window = await asyncio.to_thread(_window, self.attempts, self.since, now)
        self.since = now
        return Sample(
            at_s=round(at_s, 1),
            rss_mib=round(rss, 1),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            threads=threads,
            tasks=int(scraped.get("context_event_loop_tasks", 0)),
            watchers=int(scraped.get("context_session_watchers", 0)),
            connections=self._connections(pid, inodes),
            valkey_keys=keys,
            valkey_persistent=persistent,
            js_unacked=await _unacked(self.stack.nats.url),
            window=window,
        )

    def _scrape(self) -> dict[str, float]:
        """The service's unlabelled gauges from its /metrics page."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode("utf-8")
        return {
            s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels
        }

    async def _valkey_keys(self) -> tuple[int, int]:
        """(keys, keys without an expiry) of the service's database."""
        async with Redis.from_url(f"{self.stack.valkey.url}/{self.stack.valkey_db}") as valkey:
            info = await valkey.info("keyspace")
        db = info.get(f"db{self.stack.valkey_db}", {"keys": 0, "expires": 0})
        return int(db["keys"]), int(db["keys"]) - int(db["expires"])

    def _connections(self, pid: int, inodes: set[str]) -> dict[str, int]:
        """Established TCP connections of the process, by the peer they lead to."""
        peers = {server.port: name for name, server in self.stack.stores.items()}
        counts: Counter[str] = Counter(dict.fromkeys(PEERS, 0))
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{pid}/net/{table}").read_text(encoding="utf-8").splitlines()[1:]:
                cells = line.split()
                if cells[3] != TCP_ESTABLISHED or cells[9] not in inodes:
                    continue
                local, remote = (int(cell.rsplit(":", 1)[1], 16) for cell in cells[1:3])
                counts["gRPC clients" if local == self.served.port else peers.get(remote, "other")] += 1
        return dict(counts)

    async def persistent_keys_by_prefix(self) -> Counter[str]:
        """Keys without an expiry, by their first two `:` parts (what grows if anything does)."""
        prefixes: Counter[str] = Counter()
        async with Redis.from_url(f"{self.stack.valkey.url}/{self.stack.valkey_db}") as valkey:
            async for key in valkey.scan_iter(count=1000):
                if await valkey.ttl(key) == -1:
                    prefixes[":".join(key.decode("utf-8", "replace").split(":")[:2])] += 1
        return prefixes


def _status(pid: int) -> tuple[float, int]:
    """(RSS in MiB, threads) from /proc/<pid>/status."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the process's open sockets."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:  # closed between listing and reading
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    return inodes


def _window(path: Path, since: float, until: float) -> Window:
    """Acknowledged attempts so far; failures and OK gRPC latency percentiles within (since, until]."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    attempts = [json.loads(line) for line in lines if line.endswith("}")]
    acked = sum(1 for a in attempts if a["code"] == "OK" and a["t"] <= until)
    inside = [a for a in attempts if since < a["t"] <= until]
    latencies = sorted(a["ms"] for a in inside if a["code"] == "OK" and a["op"] in TIMED_OPS)
    errors = sum(1 for a in inside if a["code"] != "OK")
    if len(latencies) < 2:
        return Window(acked, errors, float("nan"), float("nan"))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Window(acked, errors, round(cuts[49], 1), round(cuts[98], 1))


async def _unacked(nats_url: str) -> int:
    """Messages the service's durables have not acknowledged yet (waiting or in flight)."""
    nc = await nats.connect(nats_url)
    try:
        return sum([await unacked(nc, subject.subject) for subject in SUBJECTS])
    finally:
        await nc.close()
