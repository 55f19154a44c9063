"""The processes a bench run measures: the service (one or more replicas) and the echo server.

Each runs as its own OS process; CPU time and RSS come from /proc/<pid>, reply codes from the service's own
Prometheus counters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from context_service.devstack import DevStack, local_stack
from context_service.local_servers import LOOPBACK, free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60.0


@dataclass
class Process:
    """One spawned server process on a loopback port."""

    name: str
    port: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    metrics_port: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        """host:port for a gRPC channel."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The process id (started processes only)."""
        assert self.popen is not None, f"{self.name} is not running"
        return self.popen.pid

    def start(self) -> Process:
        """Spawn it with its output in its log file and wait until its health service says SERVING."""
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.popen = subprocess.Popen(
            self.argv, env={**os.environ, **self.env}, stdout=log, stderr=log, start_new_session=True
        )
        wait_serving(self)
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.terminate()
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(15)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process and its running children (workers) have used so far."""
        return sum(cpu_seconds(pid) for pid in (self.pid, *children(self.pid)))

    def rss_mb(self) -> float:
        """Resident set size now, in MB."""
        pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        return round(pages * PAGE_BYTES / 1e6, 1)

    def metric_counts(self, name: str, label: str) -> Counter[str]:
        """Sum of one Prometheus counter per value of one label, scraped from the process's /metrics."""
        assert self.metrics_port is not None, f"{self.name} exposes no metrics"
        url = f"http://{LOOPBACK}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            if line.startswith(name + "{"):
                labels, _, value = line.rpartition(" ")
                pairs = dict(p.split("=", 1) for p in labels[len(name) + 1 : -1].split(","))
                counts[pairs[label].strip('"')] += int(float(value))
        return counts


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def children(pid: int) -> list[int]:
    """The running child processes of `pid` (Linux /proc; those that ended meanwhile are skipped)."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        found += (int(child) for child in listing.read_text().split())
    return [child for child in found if Path(f"/proc/{child}/stat").exists()]


def wait_workers(process: Process, workers: int) -> None:
    """Wait until `workers` workers of a `serve --workers` process report SERVING in its log."""
    assert process.log_path is not None, f"{process.name} has no log file"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        text = process.log_path.read_text(encoding="utf-8", errors="replace")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        ready = {ln.get("worker") for ln in lines if ln["event"] == "readiness" and ln.get("serving")}
        if len(ready) >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"{process.name}: {workers} workers did not report SERVING within {STARTUP_SECONDS:.0f}s"
    )


def wait_serving(process: Process) -> None:
    """Poll the health service until SERVING; fail if the process exits or the bound passes."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with grpc.insecure_channel(process.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.popen is not None
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not report SERVING within {STARTUP_SECONDS:.0f}s")


def echo_process(log_dir: Path, name: str = "echo") -> Process:
    """The bare grpc.aio echo server, unstarted."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.echo", str(port)]
    return Process(name, port, argv, log_path=log_dir / f"{name}.log")


def service_process(
    stack: DevStack, log_dir: Path, name: str, *, demo: bool, extra: dict[str, str], workers: int = 1
) -> Process:
    """`context-service serve` on the local stack, production logging at INFO to a file, unstarted
    (`workers` > 1: `serve --workers`, one port and one /metrics for them all)."""
    port, metrics_port = free_port(), free_port()
    env = {
        "GRAPH_BACKEND": "falkordb",
        "FALKORDB_URL": stack.server("falkordb").url,
        "FALKORDB_GRAPH": "bench",
        "VALKEY_URL": stack.server("valkey").url,
        "KV_BACKEND": "valkey",
        "ENABLE_NATS": "true",
        "NATS_URL": stack.server("nats").url,
        "GRPC_HOST": LOOPBACK,
        "GRPC_PORT": str(port),
        "METRICS_HOST": LOOPBACK,
        "METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        **extra,
    }
    argv = [str(BIN / "context-service"), "serve", *(["--demo"] if demo else [])]
    argv += ["--workers", str(workers)] if workers > 1 else []
    return Process(name, port, argv, env, log_dir / f"{name}.log", metrics_port)


@contextmanager
def services_beside_base(prefix: str, base: str) -> Iterator[tuple[Path, dict[str, Process]]]:
    """A temp dir with the local real stack (messaging on) in it, and the service on that stack and, when
    `base` names a src/ directory, that code too ("base": its own graph and key prefix on the same stores, so
    the two never read each other's writes); the services unstarted. The stack stops on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        with local_stack(work / "stack", messaging=True) as stack:
            services = {"service": service_process(stack, work, "service", demo=False, extra={})}
            if base:
                extra = {"PYTHONPATH": base, "FALKORDB_GRAPH": "bench-base", "KV_KEY_PREFIX": "base:"}
                services["base"] = service_process(stack, work, "base", demo=False, extra=extra)
            yield work, services


@contextmanager
def running(processes: Iterable[Process], prepare: Callable[[Process], object] = id) -> Iterator[None]:
    """Start the processes in order, each prepared (e.g. seeded) once it is up; stop them in reverse order."""
    started: list[Process] = []
    try:
        for process in processes:
            started.append(process.start())
            prepare(process)
        yield
    finally:
        for process in reversed(started):
            process.stop()
