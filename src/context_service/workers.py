"""`serve --workers N`: N service processes on one gRPC port, and one Prometheus endpoint for them all.

One Python process runs its Python code on one core at a time (gRPC's own threads aside). With
`--workers N` (or WORKERS=N) the process `serve` started becomes a supervisor that serves nothing itself:

- it reserves the port: a socket bound with SO_REUSEPORT that never listens (no connection lands on it; a
  port another program holds fails here, with one clear line, before any worker starts; port 0 picks one);
- it starts N fresh interpreters running `serve --worker I`, each a whole service on that port, bound with
  SO_REUSEPORT (the kernel spreads new connections over them). They are new programs, not forks: nothing
  of the supervisor's (no gRPC object, event loop or store client, which do not survive a fork) is in them.
  Each is sent SIGTERM if the supervisor dies;
- their metric values go to a directory of their own (prometheus_client's multiprocess mode), which the
  supervisor's METRICS_PORT serves summed over the workers (gauges say how they combine);
- SIGTERM or SIGINT is passed on to every worker, which drains as a single process does; the supervisor
  exits when all have, 0 when all did. A worker that ends on its own (a crash, an OOM kill) stops the others
  and the supervisor exits non-zero, so the orchestrator restarts the pod as it would a single process.

The workers share the stores (state, caches' freshness, NATS durables) exactly as replicas do, so only
stores they all reach are accepted (`Settings.unshared_stores`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import structlog

from context_service.binding import PortTaken
from context_service.config import Settings

log = structlog.get_logger()
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1
_STOPS = (signal.SIGTERM, signal.SIGINT)
_WATCHED = {signal.SIGCHLD, *_STOPS}
_POLL_SECONDS = 1.0


def supervise(settings: Settings, workers: int, *, demo: bool) -> int:
    """Run `workers` workers until a signal or one of them ends; the exit code for the command."""
    obs = settings.observability
    metrics_port = obs.metrics_port if obs.metrics_enabled else None
    # The supervisor waits for its signals instead of handling them: a worker's end and a stop request are
    # events of one loop (`_wait`). Blocked before any thread or worker exists: both inherit the mask (a
    # worker unblocks them first thing, in `as_worker`).
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="context-service-metrics-") as metrics_dir,
            reserve_port(settings.grpc.host, settings.grpc.port) as port,
            _metrics_endpoint(obs.metrics_host, metrics_port, Path(metrics_dir)) as served,
        ):
            env = {**os.environ, "GRPC_PORT": str(port), MULTIPROCESS_DIR: metrics_dir}
            processes = [
                subprocess.Popen(worker_command(index, demo=demo and index == 0), env=env)
                for index in range(workers)
            ]
            pids = [p.pid for p in processes]
            log.info("workers_started", workers=workers, port=port, pids=pids, metrics_port=served)
            code = _wait(processes, Path(metrics_dir))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    log.info("workers_stopped", code=code)
    return code


def worker_command(index: int, *, demo: bool) -> list[str]:
    """The command line of worker `index` of this process."""
    argv = ["serve", "--worker", str(index), "--supervisor", str(os.getpid()), *(["--demo"] * demo)]
    return [sys.executable, "-m", "context_service", *argv]


def as_worker(supervisor: int) -> None:
    """First thing in a worker: take the signals the supervisor waits for, and be sent SIGTERM when the
    supervisor dies, however it dies (ended already: stop now)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    with contextlib.suppress(OSError, AttributeError):  # prctl is Linux's: elsewhere workers may outlive it
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:
        raise SystemExit("context-service: the supervisor of this worker has ended")


def _wait(processes: Sequence[subprocess.Popen[bytes]], metrics_dir: Path) -> int:
    """Until every worker has ended: pass a stop request on; stop them all when one ends on its own."""
    from prometheus_client import multiprocess  # noqa: PLC0415 — only the supervisor reads the directory

    unprompted: int | None = None
    stopping = False
    remaining = list(processes)
    while True:
        for process in [p for p in remaining if p.poll() is not None]:
            remaining.remove(process)
            # Its live gauges leave the sums.
            multiprocess.mark_process_dead(process.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
            if stopping:
                log.info("worker_stopped", pid=process.pid, code=process.returncode)
            else:
                log.error("worker_exited", pid=process.pid, code=process.returncode)
                unprompted = _exit_status(process.returncode)
        if not remaining:
            break
        if stopping:
            _next_signal()  # the next worker's end (a repeated stop request changes nothing)
        elif unprompted is not None or _next_signal() in _STOPS:
            stopping = True
            for process in remaining:
                process.send_signal(signal.SIGTERM)
    if unprompted is not None:
        return unprompted
    return 0 if all(p.returncode == 0 for p in processes) else 1


def _exit_status(returncode: int) -> int:
    """The supervisor's exit status for a worker that ended unprompted: its own, 128 + the signal that
    killed it (as a shell reports it), or 1 when it exited cleanly (it was not asked to)."""
    if returncode < 0:
        return 128 - returncode
    return returncode or 1


def _next_signal() -> int | None:
    """The next watched signal, or None after `_POLL_SECONDS` without one."""
    info = signal.sigtimedwait(_WATCHED, _POLL_SECONDS)
    return None if info is None else info.si_signo


@contextmanager
def reserve_port(host: str, port: int) -> Iterator[int]:
    """The port, held by a bound socket with SO_REUSEPORT that never listens; its number."""
    holder: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.removeprefix("[").removesuffix("]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        holder = socket.socket(family, kind, proto)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(address)
    except OSError as exc:
        if holder is not None:
            holder.close()
        raise PortTaken(f"cannot bind the gRPC port {host}:{port}: {exc.strerror or exc}") from None
    with holder:
        yield holder.getsockname()[1]


@contextmanager
def _metrics_endpoint(host: str, port: int | None, metrics_dir: Path) -> Iterator[int | None]:
    """/metrics of every worker's values, summed (None: disabled); the bound port."""
    if port is None:
        yield None
        return
    # Only a supervisor needs these (the command line imports this module for every command).
    from prometheus_client import CollectorRegistry, multiprocess  # noqa: PLC0415

    from context_service.observability.metrics_server import start_endpoint  # noqa: PLC0415

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    endpoint = start_endpoint(host, port, registry)
    try:
        yield endpoint.port
    finally:
        endpoint.stop()
