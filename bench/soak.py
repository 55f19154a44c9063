"""`make soak`: mixed load on the local stack for SOAK_SECONDS (default 30 minutes), resources sampled.

The service runs as `context-service serve` on persistent FalkorDB, Valkey and nats-server in a temporary
directory; the load (bench.load) runs as processes of their own, one story per SOAK_SEGMENT_SECONDS (60),
each bounded by time and by attempt count. At the start, every SOAK_SAMPLE_SECONDS and at the end the
service's RSS, open descriptors, threads, event-loop tasks, Watch streams and connections by peer, Valkey's
keys (and those without an expiry), the JetStream messages its durables have not acknowledged, and the
load's failures and latency since the previous sample are recorded (bench.soak_probe).
Writes bench/results/soak-<UTC time>.md. Asserts nothing: a reader compares start, middle and end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.load import command
from bench.report import RESULTS
from bench.soak_probe import PEERS, Probe, Sample
from bench.stack import Served, Stack, local_stack
from context_service.local_servers import free_port

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_S = 10.0
SEGMENT_S = float(os.environ.get("SOAK_SEGMENT_SECONDS", "60"))
STOP_S = 120.0
NATS_PAUSE_S = float(os.environ.get("SOAK_NATS_PAUSE", "0.1"))  # a rate the service sustains on 2 cores

FIGURES: list[tuple[str, Callable[[Sample], object]]] = [
    ("RSS (MiB)", lambda s: s.rss_mib),
    ("open file descriptors", lambda s: s.fds),
    ("threads", lambda s: s.threads),
    ("event-loop tasks", lambda s: s.tasks),
    ("session Watch streams open", lambda s: s.watchers),
    *[(f"connections: {peer}", lambda s, peer=peer: s.connections[peer]) for peer in PEERS],
    ("Valkey keys", lambda s: s.valkey_keys),
    ("Valkey keys without expiry", lambda s: s.valkey_persistent),
    ("JetStream unacknowledged (service durables)", lambda s: s.js_unacked),
    ("acknowledged operations (total)", lambda s: s.window.acked_total),
    ("failed attempts (since previous sample)", lambda s: s.window.errors),
    ("gRPC latency p50 ms (OK, since previous sample)", lambda s: s.window.p50_ms),
    ("gRPC latency p99 ms (OK, since previous sample)", lambda s: s.window.p99_ms),
]


def slope_per_hour(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    """Least-squares growth per hour of one figure over the samples (0 with fewer than two)."""
    if len(samples) < 2:
        return 0.0
    fit = statistics.linear_regression([s.at_s for s in samples], [value(s) for s in samples])
    return round(fit.slope * 3600, 1)


def _trends(samples: list[Sample], persistent: Counter[str], codes: Counter[str]) -> list[str]:
    """Growth rates, latency drift, what never expires, every outcome."""
    half = [s for s in samples if s.at_s >= samples[-1].at_s / 2]
    windows = [s for s in samples if not math.isnan(s.window.p50_ms)] or samples
    first, last = windows[0].window, windows[-1].window
    by_prefix = ", ".join(f"`{p}` {n}" for p, n in persistent.most_common()) or "none"
    return [
        f"- RSS slope: {slope_per_hour(samples, lambda s: s.rss_mib)} MiB/h over the run, "
        f"{slope_per_hour(half, lambda s: s.rss_mib)} MiB/h over its second half.",
        f"- Open descriptors slope over the second half: {slope_per_hour(half, lambda s: s.fds)} /h; "
        f"event-loop tasks: {slope_per_hour(half, lambda s: s.tasks)} /h.",
        f"- gRPC latency drift (OK calls, first window → last): p50 {first.p50_ms} → {last.p50_ms} ms, "
        f"p99 {first.p99_ms} → {last.p99_ms} ms.",
        f"- Valkey keys without expiry at the end, by prefix: {by_prefix} (`swe:case` are the planning "
        "read-models, one per story the load announces: they grow with the stories, not with time).",
        "- Attempts by operation and outcome: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())),
    ]


def report(samples: list[Sample], seconds: float, persistent: Counter[str], codes: Counter[str]) -> str:
    """The Markdown report: start, middle and end side by side, the trends, then every sample."""
    marks = [samples[0], min(samples, key=lambda s: abs(s.at_s - seconds / 2)), samples[-1]]
    lines = [f"# Soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {seconds:.0f} s of mixed load", ""]
    lines += [
        f"| figure | start ({marks[0].at_s} s) | middle ({marks[1].at_s} s) | end ({marks[2].at_s} s) |"
    ]
    lines += ["|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(str(value(m)) for m in marks) + " |" for name, value in FIGURES]
    lines += ["", *_trends(samples, persistent, codes), "", "Every sample:", ""]
    lines += ["| at s | " + " | ".join(name for name, _ in FIGURES) + " |"]
    lines += ["|---" * (len(FIGURES) + 1) + "|"]
    lines += [
        "| " + " | ".join(str(c) for c in [s.at_s, *(v(s) for _, v in FIGURES)]) + " |" for s in samples
    ]
    return "\n".join(lines) + "\n"


async def soak(root: Path, seconds: float, every: float) -> Path:
    """Run the soak under `root`; the report's path (rewritten after every sample, so a crash keeps them)."""
    path = RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    with local_stack(root, token=uuid.uuid4().hex) as stack:
        metrics_port = free_port()
        # The production store timeout: a soak looks for growth, not for timeouts on a busy machine.
        stack.extra_env.update(
            STORE_TIMEOUT_SECONDS="2",
            METRICS_ENABLED="true",
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(metrics_port),
        )
        served = stack.serve("soak")
        await served.wait_serving()
        out, stop, notes = root / "load.jsonl", asyncio.Event(), list[str]()
        probe = Probe(stack, served, metrics_port, out)
        loads = asyncio.ensure_future(_segments(stack, served, out, stop, notes))
        try:
            samples = await _sampled(probe, seconds, every, path)
        finally:
            stop.set()
            await loads
        persistent = await probe.persistent_keys_by_prefix()
        attempts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        codes = Counter(f"{a['op']} {a['code']}" for a in attempts if isinstance(a, dict))
    text = report(samples, seconds, persistent, codes) + "".join(f"\nNote: {n}\n" for n in notes)
    path.write_text(text, encoding="utf-8")
    return path


async def _segments(stack: Stack, served: Served, out: Path, stop: asyncio.Event, notes: list[str]) -> None:
    """Load processes one after another, each on a story of its own, until `stop` (bounded by the soak).

    One story per segment: a single story written for 30 minutes would measure the cost of a story with
    tens of thousands of milestones, not what the process accumulates. A load that does not stop within
    STOP_S of SIGTERM is killed and noted in the report.
    """
    while not stop.is_set():
        run_id = uuid.uuid4().hex[:6].upper()
        argv = command(
            targets=[served.target],
            nats_url=stack.nats.url,
            token=stack.token,
            run_id=run_id,
            out=str(out),
            seconds=SEGMENT_S,
            nats_pause=NATS_PAUSE_S,
        )
        load = await asyncio.to_thread(subprocess.Popen, argv, cwd=ROOT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SEGMENT_S)
        load.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(load.wait, STOP_S)
        except subprocess.TimeoutExpired:
            load.kill()
            code = await asyncio.to_thread(load.wait)
            notes.append(f"load {run_id} did not stop within {STOP_S:.0f} s of SIGTERM and was killed.")
        if code not in (0, -signal.SIGTERM, -signal.SIGKILL):
            notes.append(f"load {run_id} ended with exit code {code}.")


async def _sampled(probe: Probe, seconds: float, every: float, path: Path) -> list[Sample]:
    await asyncio.sleep(WARM_UP_S)
    started = time.monotonic()
    samples = [await probe.sample(0.0, time.time())]
    while (elapsed := time.monotonic() - started) < seconds:
        await asyncio.sleep(min(every, max(0.0, seconds - elapsed)))
        samples.append(await probe.sample(time.monotonic() - started, time.time()))
        partial = report(samples, seconds, Counter(), Counter())
        await asyncio.to_thread(path.write_text, partial + "\n(in progress)\n", encoding="utf-8")
    return samples


if __name__ == "__main__":
    seconds = float(os.environ.get("SOAK_SECONDS", "1800"))
    every = float(os.environ.get("SOAK_SAMPLE_SECONDS", str(max(seconds / 10, 5.0))))
    with tempfile.TemporaryDirectory(prefix="context-soak-") as tmp:
        print(asyncio.run(soak(Path(tmp), seconds, every)))
