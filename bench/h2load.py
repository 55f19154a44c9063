"""Drive a gRPC method with h2load (nghttp2-client): fixed framed body, one request in flight per client."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.wire import GRPC_HEADERS

_RPS = re.compile(r"finished in [\d.]+m?s, ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed")


@dataclass(frozen=True)
class Seconds:
    """A timed run's length."""

    seconds: float

    def __str__(self) -> str:
        return f"{self.seconds:g} s"


Amount = Seconds | int  # a duration, or a number of requests


@dataclass(frozen=True)
class Load:
    """What one h2load run measured: every request's latency, throughput, and HTTP-level failures."""

    latencies_ms: list[float]
    rps: float
    done: int
    failed: int


def h2load_binary() -> str:
    """The h2load executable (`make bench` installs nghttp2-client when it is missing)."""
    found = shutil.which("h2load")
    if found is None:
        raise RuntimeError("h2load not found: apt-get install nghttp2-client (make bench does this)")
    return found


@dataclass(frozen=True)
class Shot:
    """One method with one framed body, `clients` connections with one stream each, for `amount`."""

    method: str
    body: Path
    clients: int
    amount: Amount


def command(target: str, shot: Shot, log: Path) -> list[str]:
    """The h2load argv for one target: a duration (after a 1 s warm-up) or a number of requests."""
    argv = [h2load_binary(), "-c", str(shot.clients), "-m", "1", "-t", "1"]
    if isinstance(shot.amount, Seconds):
        argv += ["-D", f"{shot.amount.seconds:g}", "--warm-up-time", "1"]
    else:
        argv += ["-n", str(shot.amount)]
    argv += ["-d", str(shot.body), "--log-file", str(log)]
    for header in GRPC_HEADERS:
        argv += ["-H", header]
    return [*argv, f"http://{target}{shot.method}"]


def parse(output: str, log: Path) -> Load:
    """Throughput and counts from h2load's summary; latencies from its per-request log (µs, 3rd column)."""
    rps, requests = _RPS.search(output), _REQUESTS.search(output)
    if rps is None or requests is None:
        raise RuntimeError(f"unexpected h2load output:\n{output}")
    latencies = []
    for line in log.read_text().splitlines():
        _, status, micros = line.split("\t")
        if status == "200":
            latencies.append(int(micros) / 1000)
    _, done, _, failed = (int(g) for g in requests.groups())
    return Load(latencies_ms=latencies, rps=float(rps.group(1)), done=done, failed=failed)


def run(targets: list[str], shot: Shot, work: Path) -> list[Load]:
    """h2load against each target at once (`shot.clients` each): one Load per target."""
    runs = []
    for i, target in enumerate(targets):
        log = work / f"h2load-{i}.log"
        log.unlink(missing_ok=True)
        popen = subprocess.Popen(command(target, shot, log), stdout=subprocess.PIPE, text=True)
        runs.append((popen, log))
    loads = []
    for popen, log in runs:
        output, _ = popen.communicate()
        if popen.returncode != 0:
            raise RuntimeError(f"h2load exited with {popen.returncode}:\n{output}")
        loads.append(parse(output, log))
    return loads
