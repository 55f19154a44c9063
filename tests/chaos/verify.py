"""What a scenario left behind, read from the stores and the stream after the load stopped: the figures."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench import load_session
from bench.load import CANARY, STORY_SUBJECT, UPDATE_SUBJECT, settled
from bench.stack import GRAPH, STORE_TIMEOUT_S
from context_service.adapters.falkordb.graph import FalkorGraph
from tests.chaos.campaign import Run
from tests.integration.nats.support import client as nats_client
from tests.integration.nats.support import stream_messages
from tests.support.waiting import eventually

# While a dependency is down a client may see these, and only these.
ALLOWED = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}
NATS_CLIENT_CODES = {"TIMEOUT", "NO_RESPONDERS"}  # a publish JetStream did not acknowledge in time
UPDATED = "context.events.updated"
DRAIN_WITHIN_S = 60.0


@dataclass
class Figures:
    """One scenario's measurements (the JSON file and the docs table are made from these)."""

    scenario: str
    attempts: int = 0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    unexpected_codes: dict[str, int] = field(default_factory=dict)
    outage_s: float | None = None  # from the fault until the dependency (or the successor) is back
    to_not_serving_s: float | None = None
    health_back_s: float | None = None
    recovery_s: float | None = None
    writes_acked: int = 0
    writes_lost: int = 0
    writes_duplicated: int = 0
    events_missing: int = 0
    events_duplicated: int = 0
    dead_lettered: int = 0
    session_counters: dict[str, int] = field(default_factory=dict)  # highest acknowledged value per session
    session_revisions_watched: int = 0
    session_writes_sent_again: int = 0  # increments acknowledged after an attempt that failed
    examples: list[str] = field(default_factory=list)  # a few keys behind a non-zero loss figure
    leaked_log_lines: int = 0
    measured_at: str = ""

    def write(self, directory: Path) -> Path:
        """Save as <scenario>.json."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.scenario}.json"
        self.measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


def count_codes(run: Run, figures: Figures) -> None:
    """Every non-OK answer by code; those a client must never see, apart."""
    lines = run.lines()
    figures.attempts = len(lines)
    codes = Counter(line["code"] for line in lines if line["code"] != "OK")
    figures.errors_by_code = dict(sorted(codes.items()))
    # A session compare-and-set sent again after an ambiguous failure carries its idempotency key, so it is
    # answered as the attempt that landed: ABORTED is as unexpected there as anywhere.
    allowed = {"OK", *ALLOWED, *NATS_CLIENT_CODES}
    unexpected = Counter(line["code"] for line in lines if line["code"] not in allowed)
    figures.unexpected_codes = dict(unexpected)


def acked_keys(run: Run, *ops: str) -> set[str]:
    """Keys of the writes the load saw acknowledged."""
    return {line["key"] for line in run.lines() if line["op"] in ops and line["code"] == "OK"}


async def drain(run: Run) -> None:
    """Wait (bounded) until the inbound durables are settled and the outbox is empty."""
    async with nats_client(run.stack.nats.url) as nc:
        for subject in (UPDATE_SUBJECT, STORY_SUBJECT):
            what = f"{subject} settled"
            await eventually(partial(settled, nc, subject), within=DRAIN_WITHIN_S, what=what)
    async with Redis.from_url(f"{run.stack.valkey.url}/0") as valkey:

        async def outbox_empty() -> bool:
            return not [k async for k in valkey.scan_iter(match="ctx:outbox:*")]

        await eventually(outbox_empty, within=DRAIN_WITHIN_S, what="outbox empty")


async def check_writes(run: Run, figures: Figures) -> None:
    """Every acknowledged write is in the graph, and nothing is applied twice."""
    updates = acked_keys(run, "update", UPDATE_SUBJECT)
    tasks = acked_keys(run, "task")
    stories = acked_keys(run, STORY_SUBJECT)
    figures.writes_acked = len(updates) + len(tasks) + len(stories)
    url, timeout = run.stack.falkordb.url, STORE_TIMEOUT_S * 10
    async with FalkorGraph(url=url, graph=GRAPH, timeout_seconds=timeout) as g:
        history = await g.history(run.story, limit=1_000_000)
        story_graph = await g.load_story_graph(run.story)
        missing_stories = [s for s in stories if await g.get_story(s) is None]
    applied = Counter(r.request_id for r in history if r.entity_type == "MILESTONE")
    versions = Counter(r.version for r in history if r.entity_type == "MILESTONE")
    assert story_graph is not None
    task_ids = {t.task_id for t in story_graph.tasks}
    lost = sorted(updates - set(applied)) + sorted(tasks - task_ids) + sorted(missing_stories)
    figures.writes_lost = len(lost)
    figures.examples += [f"write lost: {key}" for key in lost[:5]]
    figures.writes_duplicated = sum(n - 1 for n in applied.values()) + sum(n - 1 for n in versions.values())


async def check_events(run: Run, figures: Figures) -> None:
    """Each acknowledged update announced exactly once, under one Nats-Msg-Id, with its own version."""
    async with nats_client(run.stack.nats.url) as nc:
        messages = await stream_messages(nc, UPDATED)
        dead = await stream_messages(nc, "context.dlq.>")
    envelopes = [json.loads(m.data) for m in messages]
    by_cause = Counter(e["causation_id"] for e in envelopes if e["payload"]["story_id"] == run.story)
    msg_ids = Counter((m.headers or {}).get("Nats-Msg-Id", "") for m in messages)
    versions = Counter(e["payload"]["version"] for e in envelopes if e["payload"]["story_id"] == run.story)
    acked = acked_keys(run, "update", UPDATE_SUBJECT)
    missing = sorted(key for key in acked if by_cause[key] == 0)
    figures.events_missing = len(missing)
    figures.examples += [f"event missing: {key}" for key in missing[:5]]
    figures.events_duplicated = (
        sum(n - 1 for n in by_cause.values() if n > 1)
        + sum(n - 1 for n in msg_ids.values() if n > 1)
        + sum(n - 1 for n in versions.values() if n > 1)
    )
    figures.dead_lettered = len(dead)


def scan_logs(run: Run, figures: Figures) -> list[str]:
    """Log lines quoting the token or a payload's text (none may exist)."""
    leaks: list[str] = []
    for path in run.stack.logs():
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if run.stack.token in line or CANARY in line:
                leaks.append(f"{path.name}: {line[:200]}")
    figures.leaked_log_lines = len(leaks)
    return leaks


def check_sessions(run: Run, figures: Figures) -> None:
    """Session counters: what was acknowledged is there, once (version = value); watchers saw revisions
    in order, none twice. Reads the last value each watcher saw and the acknowledged increments."""
    acked: dict[str, int] = {}
    for key in acked_keys(run, load_session.CAS):
        sid, n = key.rsplit(":", 1)
        acked[sid] = max(acked.get(sid, 0), int(n))
    figures.writes_acked += sum(acked.values())
    failed_first = {
        line["key"] for line in run.lines() if line["op"] == load_session.CAS and line["code"] != "OK"
    }
    figures.session_writes_sent_again = len(failed_first & acked_keys(run, load_session.CAS))
    seen: dict[str, list[int]] = {}
    for line in run.lines():
        if line["op"] == load_session.WATCH and line["code"] == "OK":
            sid, revision = line["key"].rsplit(":", 1)
            seen.setdefault(sid, []).append(int(revision))
    disorder = sum(1 for revs in seen.values() for a, b in itertools.pairwise(revs) if b <= a)
    figures.events_duplicated += disorder
    figures.session_revisions_watched = sum(len(revs) for revs in seen.values())
    figures.session_counters = dict(sorted(acked.items()))


async def check_session_state(run: Run, figures: Figures) -> None:
    """Each counter's stored value is at least what was acknowledged, and its version equals its value; every
    version stored was announced on NATS once (also a write whose answer the fault swallowed)."""
    if not figures.session_counters:
        return
    target = next(s.target for s in run.stack.served if s.process.poll() is None)
    async with nats_client(run.stack.nats.url) as nc:
        for sid, acked in figures.session_counters.items():
            value, version = await load_session.read_counter(target, run.stack.token, sid)
            if value < acked:
                figures.writes_lost += acked - value
                figures.examples.append(f"session {sid}: acknowledged {acked}, stored {value}")
            if version != value:
                figures.writes_duplicated += abs(version - value)
                figures.examples.append(f"session {sid}: value {value} at version {version}")
            await check_session_notices(nc, sid, version, figures)


async def check_session_notices(nc: Any, sid: str, version: int, figures: Figures) -> None:
    """The counter's versions 1..`version` each have one `context.session.<id>.changed` message."""
    messages = await stream_messages(nc, f"context.session.{sid}.changed")
    payloads = [json.loads(m.data)["payload"] for m in messages]
    notified = Counter(p["version"] for p in payloads if p["key"] == load_session.KEY and p["type"] == "SET")
    missing = sorted(set(range(1, version + 1)) - set(notified))
    figures.events_missing += len(missing)
    figures.examples += [f"session {sid}: version {v} not announced" for v in missing[:5]]
    figures.events_duplicated += sum(n - 1 for n in notified.values() if n > 1)


async def measure(run: Run, figures: Figures) -> Figures:
    """Drain, then read every figure back."""
    count_codes(run, figures)
    await drain(run)
    await check_writes(run, figures)
    check_sessions(run, figures)
    await check_session_state(run, figures)
    await check_events(run, figures)
    scan_logs(run, figures)
    return figures


def timings(run: Run, figures: Figures, *, down: str, up: str) -> None:
    """Time for `down` to stop serving after the fault; for `up` to serve, and writes to succeed, after the
    dependency is back (one process, or the killed replica and its surviving peer)."""
    figures.outage_s = _round(run.marks["back"] - run.marks["fault"])
    figures.to_not_serving_s = _round(run.health[down].first("NOT_SERVING", run.marks["fault"]))
    figures.health_back_s = _round(run.health[up].first("SERVING", run.marks["back"]))
    firsts = [run.first_ok(op, run.marks["back"]) for op in ("update", UPDATE_SUBJECT)]
    known = [f for f in firsts if f is not None]
    recovered = [*known, figures.health_back_s] if len(known) == len(firsts) else []
    figures.recovery_s = _round(max(x for x in recovered if x is not None)) if recovered else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summary(figures: Figures) -> dict[str, Any]:
    """The figures as a dict (for assertion messages)."""
    return asdict(figures)
