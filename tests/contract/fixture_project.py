"""The golden tests' fixture project: a small, a medium and a large story, built through the public RPCs.

Deterministic: fixed text, plus a seeded `random.Random` for the large story. Timestamps the fixture supplies
itself (milestones, planning events, decision dates) lie in October 2026, before the test clock starts, so the
golden normalisation (which only rewrites timestamps the service generated) leaves them alone.
"""

# ruff: noqa: E501 — the fixture tables below read best as one row per line

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from context_service.domain.model import Milestone
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc

SMALL, MEDIUM, LARGE = "S-SMALL", "S-MEDIUM", "S-LARGE"
ROLES = ("architect", "developer", "devops", "qa", "data")
DECISION_PLACEHOLDER = re.compile(r"\{\{decision:([A-Za-z0-9_-]+)\}\}")
Change = tuple[str, str, str, dict[str, Any], str]  # operation, entity_type, entity_id, payload, reason


@dataclass(frozen=True)
class TaskSpec:
    """A task the fixture creates with CreateTask."""

    task_id: str
    role: str
    title: str
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    hours: int = 0
    description: str = ""


@dataclass(frozen=True)
class DecisionSpec:
    """A decision the fixture creates with AddProjectDecision, known to the goldens by `name`."""

    name: str
    decision_type: str
    title: str
    rationale: str = ""
    alternatives: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    task_ids: tuple[str, ...] = ()


@dataclass
class FixtureProject:
    """What the builder created: logical decision names -> the ids the service generated."""

    decisions: dict[str, str] = field(default_factory=dict)

    def substitute(self, value: str) -> str:
        """Replace every `{{decision:name}}` in `value` with the live decision id."""

        def live(match: re.Match[str]) -> str:
            if match[1] not in self.decisions:
                raise KeyError(f"unknown fixture decision {match[1]!r} in {value!r}")
            return self.decisions[match[1]]

        return DECISION_PLACEHOLDER.sub(live, value)


def ref(name: str) -> str:
    """The placeholder of a fixture decision, resolved to its live id before a request is sent."""
    return "{{decision:" + name + "}}"


def october_ms(day: int, hour: int = 9) -> int:
    """Epoch milliseconds of a fixture moment in October 2026 (before the test clock's window)."""
    return int(datetime(2026, 10, day, hour, tzinfo=UTC).timestamp() * 1000)


def _rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in row.split("|")] for row in table.strip().splitlines()]


def task_table(table: str) -> tuple[TaskSpec, ...]:
    """Rows of `id | role | priority | hours | dependencies | title | description`."""
    return tuple(
        TaskSpec(task_id, role, title, tuple(deps.split()), int(priority), int(hours), description)
        for task_id, role, priority, hours, deps, title, description in _rows(table)
    )


def decision_table(table: str) -> tuple[DecisionSpec, ...]:
    """Rows of `name | type | metadata k=v;k=v | task ids | title | rationale | alternatives`."""
    specs = []
    for name, kind, meta, task_ids, title, rationale, alternatives in _rows(table):
        metadata = dict(pair.split("=", 1) for pair in meta.split(";") if pair)
        specs.append(
            DecisionSpec(name, kind, title, rationale, alternatives, metadata, tuple(task_ids.split()))
        )
    return tuple(specs)


def change_table(table: str) -> list[Change]:
    """Rows of `operation | entity type | entity id | JSON payload | reason`."""
    return [
        (op, kind, entity, json.loads(payload), reason) for op, kind, entity, payload, reason in _rows(table)
    ]


# --- small: two tasks, one decision, a draft plan only --------------------------------------------------

SMALL_TASKS = task_table("""
T-S-1 | developer | 1 | 2 |       | Implement the /healthz handler   | 200 with build info; 503 while draining.
T-S-2 | qa        | 2 | 1 | T-S-1 | Probe /healthz in the smoke suite | Fail the deploy after 5s.
""")
SMALL_DECISIONS = decision_table("""
probe | ARCHITECTURE | role=architect | T-S-1 | Use a plain HTTP probe | The LB only speaks HTTP. | gRPC health; TCP
""")

# --- medium: twenty tasks with dependencies, ten decisions, a plan, milestones, summaries ------------------

MEDIUM_TASKS = task_table("""
T-M-01 | architect | 1 | 4 |               | Define the checkout service boundary   | Which tables move, which stay.
T-M-02 | architect | 1 | 6 | T-M-01        | Write the checkout API contract        | Protobuf first.
T-M-03 | developer | 2 | 4 | T-M-02        | Scaffold the checkout service          |
T-M-04 | developer | 2 | 8 | T-M-03        | Port cart pricing rules                | Keep rounding identical.
T-M-05 | developer | 1 | 8 | T-M-03        | Implement the payment authorisation client |
T-M-06 | developer | 1 | 6 | T-M-05        | Add idempotent order submission        |
T-M-07 | developer | 3 | 4 | T-M-06        | Emit checkout domain events            |
T-M-08 | devops    | 2 | 3 | T-M-01        | Provision the checkout database        |
T-M-09 | devops    | 2 | 3 | T-M-08 T-M-03 | Route /checkout through the gateway    |
T-M-10 | devops    | 3 | 5 | T-M-09        | Set up the canary rollout              |
T-M-11 | devops    | 3 | 3 | T-M-07        | Add checkout dashboards and alerts     |
T-M-12 | qa        | 2 | 5 | T-M-02        | Contract tests for the checkout API    |
T-M-13 | qa        | 2 | 6 | T-M-06 T-M-09 | End-to-end purchase journey            |
T-M-14 | qa        | 3 | 4 | T-M-06        | Load test order submission             | 500 orders/s for 10 minutes.
T-M-15 | qa        | 4 | 3 | T-M-05        | Chaos test payment timeouts            |
T-M-16 | data      | 2 | 8 | T-M-08        | Migrate historical orders              |
T-M-17 | data      | 3 | 5 | T-M-07 T-M-16 | Backfill order events to the lake      |
T-M-18 | data      | 4 | 2 |               | Define the order retention policy      |
T-M-19 | developer | 5 | 4 | T-M-13        | Remove checkout code from the monolith |
T-M-20 | architect | 0 | 2 | T-M-10 T-M-13 | Review the cut-over plan               | No priority yet.
""")
MEDIUM_DECISIONS = decision_table("""
gateway         | ARCHITECTURE   | role=architect | T-M-01 T-M-09 | Route checkout through the API gateway | One ingress for auth and rate limits. | Direct ingress; mesh ingress
events          | ARCHITECTURE   | role=architect | T-M-07 T-M-17 | Publish checkout events to the broker | Downstream teams stop polling. | Change data capture
idempotency     | IMPLEMENTATION | role=developer;ticket=CHK-12 | T-M-06 | Idempotency keys on order submission | Retries must not double-charge. |
payments-client | IMPLEMENTATION | winner=developer | T-M-05 T-M-15 | Time out payment calls after 2s, retry once | The provider's p99 is 1.2s. | No retry
database        | DATA           | role=data | T-M-08 T-M-16 | Own a Postgres schema for checkout | No shared tables with the monolith. | Shared schema
secrets         | SECURITY       | role=architect;vault=https://svc:s3cr3t@vault.internal/v1 | T-M-05 | Load payment credentials from the vault | The old config had password=hunter2 and api_key: sk-live1234567890abcdefghijkl in git. | Environment variables
canary          | OPERATIONS     | role=devops | T-M-10 | Canary 5% of traffic for an hour | Catch pricing regressions early. | Blue-green
contract-tests  | testing        | role=qa | T-M-12 | Consumer-driven contract tests | Three consumers already exist. | Shared integration environment
retention       | DATA           | | T-M-18 | Keep orders for seven years | Tax law. |
observability   | OPERATIONS     | | | RED metrics for every endpoint | One dashboard per service. |
""")
MEDIUM_SUMMARY = "Gateway route merged.\nPayment client blocked on sandbox credentials."
MEDIUM_DEVELOPER_SUMMARY = "You finished the scaffold; next is the payment authorisation client."
# The architect's UpdateContext: a plan, a caller-named decision, the decision graph, milestones, progress.
MEDIUM_CHANGES = change_table("""
CREATE | PLAN      | PLAN-M-1   | {"version": 1, "status": "approved", "rationale": "Strangle the monolith in four steps", "author_id": "architect"} | plan approved
CREATE | DECISION  | D-M-LEGACY | {"title": "Keep checkout in the monolith", "status": "rejected", "decision_type": "architecture", "decided_by": "architect", "decided_at": "2026-10-02T09:00:00Z", "rationale": "Too coupled to release weekly."} | record the rejected option
UPDATE | DECISION  | {{decision:gateway}}       | {"supersedes": ["D-M-LEGACY"]} | gateway replaces it
UPDATE | DECISION  | {{decision:events}}        | {"depends_on": ["{{decision:gateway}}"]} |
UPDATE | DECISION  | {{decision:idempotency}}   | {"depends_on": "{{decision:events}}"} |
UPDATE | DECISION  | {{decision:canary}}        | {"relations": [{"to": "{{decision:observability}}", "type": "relates_to"}]} |
UPDATE | DECISION  | {{decision:retention}}     | {"governs": ["{{decision:database}}"]} |
CREATE | MILESTONE | M-M-1  | {"event_type": "kickoff", "description": "Checkout rewrite kicked off", "timestamp": "2026-10-01T09:00:00Z", "actor": "po-bot"} |
CREATE | MILESTONE | M-M-2  | {"event_type": "design_review", "description": "API contract reviewed", "ts_ms": 1791190800000} |
UPDATE | TASK      | T-M-01 | {"status": "done"} | boundary agreed
UPDATE | SUBTASK   | T-M-02 | {"status": "COMPLETED"} | contract merged
UPDATE | SUBTASK   | T-M-03 | {"status": "IN_PROGRESS"} |
UPDATE | SUBTASK   | T-M-08 | {"status": "IN_PROGRESS"} |
UPDATE | SUBTASK   | T-M-05 | {"plan_id": "PLAN-M-1", "decided_by": "council", "decision_reason": "Payments are the riskiest dependency", "council_feedback": "Start against the provider sandbox", "source": "planning-council", "decided_at": "2026-10-06T09:00:00Z"} | link the task to the plan that created it
""")

# --- large: 200 tasks over all roles, 100 decisions with task links and a decision graph -------------------

VERBS = (
    "Add",
    "Harden",
    "Refactor",
    "Document",
    "Benchmark",
    "Migrate",
    "Instrument",
    "Validate",
    "Automate",
)
COMPONENTS = (
    "ingest gateway",
    "metrics store",
    "trace collector",
    "alert router",
    "query API",
    "retention job",
    "dashboard service",
    "schema registry",
    "auth proxy",
    "export worker",
    "sampling engine",
    "tenant catalog",
)
ASPECTS = (
    "for multi-tenant load",
    "behind a flag",
    "with backpressure",
    "for schema drift",
    "for p99 latency",
)
CHECKS = (
    "load",
    "soak",
    "contract",
    "chaos",
    "upgrade",
    "security",
)
TOPICS = (
    "Shard by tenant",
    "Cap label cardinality",
    "Require mTLS",
    "Batch writes",
    "Retry with jitter",
    "Version the schema",
    "Pin base images",
    "Canary every release",
    "Sample traces at 10%",
    "Compress with zstd",
)
REASONS = (
    "Keeps the p99 under 200ms",
    "Halves storage cost",
    "Required by the security review",
    "Limits the blast radius",
    "Matches what the agents already emit",
    "Simplest thing that scales",
)
ALTERNATIVES = (
    "do nothing",
    "a managed service",
    "a bigger cluster",
    "per-team forks",
    "manual runbooks",
)
DECIDER = {
    "ARCHITECTURE": "architect",
    "IMPLEMENTATION": "developer",
    "TESTING": "qa",
    "SECURITY": "architect",
    "OPERATIONS": "devops",
    "DATA": "data",
}
DECISION_TYPES = tuple(DECIDER)
LARGE_SUMMARY = " ".join(
    f"Week {n}: ingest reached {n * 12}k events/s; {n} risks open; next focus is the {c}."
    for n, c in enumerate(COMPONENTS, start=1)
)
LARGE_QA_SUMMARY = "Soak tests green for ingest; query API contract tests flaky on pagination."
LARGE_PLANNING_EVENTS = (
    (3, "plan_drafted", "Planner drafted plan v1"),
    (12, "plan_revised", "Planner proposed plan v2 with regional shards"),
    (20, "plan_approved", "Council approved plan v2"),
)
LARGE_PLANS = change_table("""
CREATE | PLAN | PLAN-L-1 | {"version": 1, "status": "SUPERSEDED", "rationale": "One ingest cluster"} |
CREATE | PLAN | PLAN-L-2 | {"version": 2, "status": "APPROVED", "rationale": "Shard ingest per region", "author": "architect"} |
""")


def large_tasks(rng: random.Random) -> list[TaskSpec]:
    """200 tasks, 40 per role, each depending on up to two of the 15 tasks before it."""
    tasks: list[TaskSpec] = []
    for i in range(200):
        component = rng.choice(COMPONENTS)
        earlier = [t.task_id for t in tasks[max(0, i - 15) :]]
        deps = rng.sample(earlier, min(len(earlier), rng.choice((0, 1, 1, 2))))
        spec = TaskSpec(
            task_id=f"T-L-{i + 1:03d}",
            role=ROLES[i % len(ROLES)],
            title=f"{rng.choice(VERBS)} the {component} {rng.choice(ASPECTS)}",
            dependencies=tuple(sorted(deps)),
            priority=0 if i % 17 == 16 else rng.randint(1, 5),
            hours=rng.randint(1, 8),
            description=f"Done when the {component} passes its {rng.choice(CHECKS)} check.",
        )
        tasks.append(spec)
    return tasks


def large_decisions(rng: random.Random, tasks: list[TaskSpec]) -> list[DecisionSpec]:
    """100 decisions; most influence one to three tasks; some are decided by a winner, some by nobody."""
    decisions = []
    for n in range(1, 101):
        kind = DECISION_TYPES[n % len(DECISION_TYPES)]
        metadata = {"winner": DECIDER[kind]} if n % 7 == 0 else {} if n % 11 == 0 else {"role": DECIDER[kind]}
        linked = () if n % 13 == 0 else tuple(sorted(t.task_id for t in rng.sample(tasks, rng.randint(1, 3))))
        title = f"{rng.choice(TOPICS)} in the {rng.choice(COMPONENTS)}"
        alternatives = "; ".join(rng.sample(ALTERNATIVES, 2))
        decisions.append(
            DecisionSpec(f"L{n:03d}", kind, title, f"{rng.choice(REASONS)}.", alternatives, metadata, linked)
        )
    return decisions


def large_milestones() -> list[Change]:
    """Twelve milestones across October, every other day."""
    changes: list[Change] = []
    for n in range(1, 13):
        kind = ("kickoff", "design_review", "spike_done", "risk_logged")[n % 4]
        payload = {"type": kind, "description": f"{kind.replace('_', ' ')} #{n}", "actor": ROLES[n % 5]}
        changes.append(
            ("CREATE", "MILESTONE", f"M-L-{n:02d}", {**payload, "ts_ms": october_ms(2 * n, 10)}, "")
        )
    return changes


def large_decision_edges(rng: random.Random, decisions: list[DecisionSpec]) -> list[Change]:
    """Decision -> decision edges: most depend on a recent one; every 20th supersedes its predecessor."""
    changes: list[Change] = []
    for n, decision in enumerate(decisions[1:], start=2):
        payload: dict[str, Any] = {}
        if rng.random() < 0.7:
            payload["depends_on"] = [ref(rng.choice(decisions[max(0, n - 11) : n - 1]).name)]
        if n % 20 == 0:
            payload["supersedes"] = [ref(decisions[n - 2].name)]
        if payload:
            changes.append(("UPDATE", "DECISION", ref(decision.name), payload, "link decisions"))
    return changes


def large_progress(rng: random.Random, tasks: list[TaskSpec]) -> list[Change]:
    """About a quarter of the tasks done (some as COMPLETED), some in progress, a few blocked."""
    changes: list[Change] = []
    for spec in tasks:
        roll = rng.random()
        status = (
            "DONE" if roll < 0.22 else "COMPLETED" if roll < 0.25 else "IN_PROGRESS" if roll < 0.4 else ""
        )
        status = "BLOCKED" if roll > 0.97 else status
        if status:
            changes.append(("UPDATE", "SUBTASK", spec.task_id, {"status": status}, "progress"))
    return changes


# --- building ---------------------------------------------------------------------------------------------


class Builder:
    """Thin helpers over the stub; a fixture write the service rejects is a broken fixture."""

    def __init__(self, stub: context_pb2_grpc.ContextServiceStub, project: FixtureProject) -> None:
        self.stub = stub
        self.project = project

    async def story(self, story_id: str, title: str, description: str, tasks: tuple[TaskSpec, ...]) -> None:
        """CreateStory in DESIGN, then its tasks in order."""
        await self.stub.CreateStory(
            pb.CreateStoryRequest(story_id=story_id, title=title, description=description)
        )
        for t in tasks:
            request = pb.CreateTaskRequest(story_id=story_id, task_id=t.task_id, title=t.title, role=t.role)
            request.description, request.priority, request.estimated_hours = (
                t.description,
                t.priority,
                t.hours,
            )
            request.dependencies.extend(t.dependencies)
            await self.stub.CreateTask(request)

    async def decisions(self, story_id: str, specs: tuple[DecisionSpec, ...]) -> None:
        """AddProjectDecision for each spec; remembers each generated id under the spec's name."""
        for d in specs:
            request = pb.AddProjectDecisionRequest(
                story_id=story_id, decision_type=d.decision_type, title=d.title
            )
            request.rationale, request.alternatives_considered = d.rationale, d.alternatives
            request.metadata.update(d.metadata)
            if d.task_ids:
                request.metadata["task_ids"] = ",".join(d.task_ids)
            self.project.decisions[d.name] = (await self.stub.AddProjectDecision(request)).decision_id

    async def update(self, story_id: str, role: str, changes: list[Change]) -> None:
        """UpdateContext with `{{decision:name}}` resolved; any warning means the fixture is broken."""
        request = pb.UpdateContextRequest(story_id=story_id, role=role, timestamp="2026-10-31T09:00:00Z")
        for operation, entity_type, entity_id, payload, reason in changes:
            change = request.changes.add(operation=operation, entity_type=entity_type, reason=reason)
            change.entity_id = self.project.substitute(entity_id)
            change.payload = self.project.substitute(json.dumps(payload, sort_keys=True))
        response = await self.stub.UpdateContext(request)
        if response.warnings:
            raise RuntimeError(f"fixture update of {story_id} was rejected: {list(response.warnings)}")

    async def transition(self, story_id: str, to_phase: str, rationale: str) -> None:
        """TransitionPhase from DESIGN."""
        request = pb.TransitionPhaseRequest(story_id=story_id, from_phase="DESIGN", to_phase=to_phase)
        request.rationale = rationale
        await self.stub.TransitionPhase(request)


class PlanningSeeder(Protocol):
    """How the planning service would seed the read-models (the memory and Valkey stores both can)."""

    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None:
        """Store a draft plan."""

    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None:
        """Store a last session summary."""

    async def append_planning_event(self, story_id: str, event: Milestone) -> None:
        """Append a planning stream event."""


async def build_fixture_project(
    stub: context_pb2_grpc.ContextServiceStub, planning: PlanningSeeder
) -> FixtureProject:
    """Create the three stories and seed their planning read-models, always in the same order."""
    project = FixtureProject()
    b = Builder(stub, project)
    await b.story(SMALL, "Health endpoint", "Expose /healthz so the LB can drain bad pods.", SMALL_TASKS)
    await b.decisions(SMALL, SMALL_DECISIONS)
    await planning.put_draft(
        SMALL, {"plan_id": "PLAN-S-DRAFT", "version": 1, "status": "DRAFT", "rationale": "Two steps."}
    )

    await b.story(MEDIUM, "Checkout rewrite", "Split checkout out of the monolith.", MEDIUM_TASKS)
    await b.decisions(MEDIUM, MEDIUM_DECISIONS)
    await b.update(MEDIUM, "architect", MEDIUM_CHANGES)
    await planning.put_summary(MEDIUM, MEDIUM_SUMMARY)
    await planning.put_summary(MEDIUM, MEDIUM_DEVELOPER_SUMMARY, role="developer")
    event = Milestone("plan_approved", "Council approved plan v1", october_ms(6), actor="po-bot")
    await planning.append_planning_event(MEDIUM, event)
    await b.transition(MEDIUM, "BUILD", "Design signed off by the council")

    rng = random.Random(20261101)
    tasks = large_tasks(rng)
    decisions = large_decisions(rng, tasks)
    await b.story(LARGE, "Fleet telemetry platform", "Ingest, store and query agent telemetry.", tuple(tasks))
    await b.decisions(LARGE, tuple(decisions))
    await b.update(LARGE, "architect", LARGE_PLANS + large_milestones())
    await b.update(LARGE, "architect", large_decision_edges(rng, decisions))
    await b.update(LARGE, "developer", large_progress(rng, tasks))
    await planning.put_summary(LARGE, LARGE_SUMMARY)
    await planning.put_summary(LARGE, LARGE_QA_SUMMARY, role="qa")
    for day, kind, description in LARGE_PLANNING_EVENTS:
        await planning.append_planning_event(
            LARGE, Milestone(kind, description, october_ms(day, 15), "planner")
        )
    await b.transition(LARGE, "BUILD", "Architecture council approved plan v2")
    return project
