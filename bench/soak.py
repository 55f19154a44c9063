"""`make soak`: mixed load on the local stack for SOAK_SECONDS (default 30 minutes), resources sampled.

The service runs as `context-service serve` on persistent FalkorDB, Valkey and nats-server in a temporary
directory; the load (bench.load) runs as processes of their own, one story per SOAK_SEGMENT_SECONDS (60),
each bounded by time and by attempt count. RSS, open
file descriptors and sockets of the service, Valkey's key count and the JetStream messages not yet
acknowledged by the service's durables are sampled at the start, every SOAK_SAMPLE_SECONDS, and at the end.
Writes bench/results/soak-<UTC time>.md. Asserts nothing: a reader compares start and end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
from redis.asyncio import Redis

from bench.load import command, unacked
from bench.report import RESULTS
from bench.stack import Served, Stack, local_stack
from context_service.adapters.nats.handlers import SUBJECTS

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_S = 10.0
SEGMENT_S = float(os.environ.get("SOAK_SEGMENT_SECONDS", "60"))
NATS_PAUSE_S = float(os.environ.get("SOAK_NATS_PAUSE", "0.1"))  # a rate the service sustains on 2 cores


@dataclass(frozen=True)
class Sample:
    """Resources at one moment."""

    at_s: float
    rss_mib: float
    fds: int
    sockets: int
    valkey_keys: int
    js_unacked: int
    acked_ops: int


def _process_facts(pid: int) -> tuple[float, int, int]:
    """(RSS in MiB, open fds, of which sockets) of a live process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    fd_dir = Path(f"/proc/{pid}/fd")
    links = []
    for fd in fd_dir.iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:  # closed between listing and reading
            continue
    return rss_kib / 1024, len(links), sum(1 for link in links if link.startswith("socket:"))


async def _unacked(nats_url: str) -> int:
    """Messages the service's durables have not acknowledged yet (waiting or in flight)."""
    nc = await nats.connect(nats_url)
    try:
        return sum([await unacked(nc, subject.subject) for subject in SUBJECTS])
    finally:
        await nc.close()


async def sample(stack: Stack, served: Served, out: Path, started: float) -> Sample:
    """One sample of every figure."""
    rss, fds, sockets = _process_facts(served.process.pid)
    async with Redis.from_url(f"{stack.valkey.url}/0") as valkey:
        keys = int(await valkey.dbsize())
    acked = await asyncio.to_thread(_acked_ops, out)
    return Sample(
        round(time.monotonic() - started, 1),
        round(rss, 1),
        fds,
        sockets,
        keys,
        await _unacked(stack.nats.url),
        acked,
    )


def _acked_ops(out: Path) -> int:
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    return sum(1 for line in lines if line.endswith("}") and json.loads(line)["code"] == "OK")


def report(samples: list[Sample], seconds: float, codes: Counter[str]) -> str:
    """The Markdown report: start and end side by side, then every sample."""
    first, last = samples[0], samples[-1]
    rows = [
        ("RSS (MiB)", first.rss_mib, last.rss_mib),
        ("open file descriptors", first.fds, last.fds),
        ("sockets (connections)", first.sockets, last.sockets),
        ("Valkey keys", first.valkey_keys, last.valkey_keys),
        ("JetStream unacknowledged", first.js_unacked, last.js_unacked),
        ("acknowledged operations", first.acked_ops, last.acked_ops),
    ]
    lines = [f"# Soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {seconds:.0f} s of mixed load", ""]
    lines += ["| figure | start | end |", "|---|---|---|"]
    lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
    lines += [
        "",
        "Attempts by operation and outcome: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())),
    ]
    lines += ["", "| at s | RSS MiB | fds | sockets | Valkey keys | JS unacked | acked ops |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for s in samples:
        cells = (s.at_s, s.rss_mib, s.fds, s.sockets, s.valkey_keys, s.js_unacked, s.acked_ops)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


async def soak(root: Path, seconds: float, every: float) -> Path:
    """Run the soak under `root`; the report's path."""
    with local_stack(root, token=uuid.uuid4().hex) as stack:
        # The production store timeout: a soak looks for growth, not for timeouts on a busy machine.
        stack.extra_env["STORE_TIMEOUT_SECONDS"] = "2"
        served = stack.serve("soak")
        await served.wait_serving()
        out, stop = root / "load.jsonl", asyncio.Event()
        loads = asyncio.ensure_future(_segments(stack, served, out, stop))
        try:
            samples = await _sampled(stack, served, out, seconds, every)
        finally:
            stop.set()
            await loads
        attempts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        codes = Counter(f"{a['op']} {a['code']}" for a in attempts)
    path = RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(report(samples, seconds, codes), encoding="utf-8")
    return path


async def _segments(stack: Stack, served: Served, out: Path, stop: asyncio.Event) -> None:
    """Load processes one after another, each on a story of its own, until `stop` (bounded by the soak).

    One story per segment: a single story written for 30 minutes would measure the cost of a story with
    tens of thousands of milestones, not what the process accumulates.
    """
    while not stop.is_set():
        argv = command(
            targets=[served.target],
            nats_url=stack.nats.url,
            token=stack.token,
            run_id=uuid.uuid4().hex[:6].upper(),
            out=str(out),
            seconds=SEGMENT_S,
            nats_pause=NATS_PAUSE_S,
        )
        load = await asyncio.to_thread(subprocess.Popen, argv, cwd=ROOT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SEGMENT_S)
        load.send_signal(signal.SIGTERM)
        if await asyncio.to_thread(load.wait, 120) not in (0, -signal.SIGTERM):
            raise RuntimeError(f"a load process ended with {load.returncode}")


async def _sampled(stack: Stack, served: Served, out: Path, seconds: float, every: float) -> list[Sample]:
    await asyncio.sleep(WARM_UP_S)
    started = time.monotonic()
    samples = [await sample(stack, served, out, started)]
    while time.monotonic() - started < seconds:
        await asyncio.sleep(min(every, max(0.0, seconds - (time.monotonic() - started))))
        samples.append(await sample(stack, served, out, started))
    return samples


if __name__ == "__main__":
    seconds = float(os.environ.get("SOAK_SECONDS", "1800"))
    every = float(os.environ.get("SOAK_SAMPLE_SECONDS", str(max(seconds / 10, 5.0))))
    with tempfile.TemporaryDirectory(prefix="context-soak-") as tmp:
        print(asyncio.run(soak(Path(tmp), seconds, every)))
