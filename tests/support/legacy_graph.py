"""A graph as the legacy service left it, written with raw Cypher: both eras, with the defects real databases hold.

`LegacyGraph` collects nodes (label, properties) and edges, then writes them with one UNWIND statement per
label and per edge kind. `fixture_graph()` is the small, hand-written database the adoption tests and goldens
use; `generated_graph(n)` is a large one of `n` stories (about 50 nodes each) for the benchmark.
"""

# ruff: noqa: E501 — the fixture rows read best as one row per line

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

Props = dict[str, Any]
REF = "_ref"  # a temporary handle to draw edges; removed once the graph is written
STATEMENT_ROWS = 2_000


class CypherRunner(Protocol):
    """What writing needs from a graph adapter: one raw write statement."""

    async def write_rows(self, query: str, params: dict[str, Any], operation: str) -> list[list[Any]]:
        """Run one write statement."""
        ...


def sept_ms(day: int, hour: int = 9) -> int:
    """Epoch milliseconds of a legacy moment in September 2026 (before every clock the tests use)."""
    return int(datetime(2026, 9, day, hour, tzinfo=UTC).timestamp() * 1000)


def sept_iso(day: int, hour: int = 9) -> str:
    """The same moment as ISO-8601 text, as the legacy service stored it."""
    return datetime(2026, 9, day, hour, tzinfo=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LegacyGraph:
    """Nodes and edges to write; each node gets a reference for drawing edges."""

    nodes: dict[str, list[Props]] = field(default_factory=lambda: defaultdict(list))
    edges: dict[tuple[str, str, str], list[Props]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, str] = field(default_factory=dict)

    def node(self, label: str, ref: str, **props: Any) -> str:
        """Add a node; `ref` names it for `edge` (unique in the graph)."""
        self.nodes[label].append({REF: ref, **props})
        self.labels[ref] = label
        return ref

    def edge(self, src: str, rel: str, dst: str, **props: Any) -> None:
        """Add an edge between two nodes added before."""
        self.edges[(self.labels[src], rel, self.labels[dst])].append({"a": src, "b": dst, "props": props})

    def node_count(self) -> int:
        """How many nodes will be written."""
        return sum(len(rows) for rows in self.nodes.values())

    async def write(self, runner: CypherRunner, *, index: bool = False) -> None:
        """Write everything with a few UNWIND statements; `index` speeds up edges of a large graph."""
        for label, rows in self.nodes.items():
            if index:
                await runner.write_rows(f"CREATE INDEX FOR (n:{label}) ON (n.{REF})", {}, "legacy_fixture")
            for chunk in _chunks(rows):
                await runner.write_rows(
                    f"UNWIND $rows AS r CREATE (n:{label}) SET n = r", {"rows": chunk}, "legacy_fixture"
                )
        for (a, rel, b), rows in self.edges.items():
            text = f"UNWIND $rows AS r MATCH (a:{a} {{{REF}: r.a}}), (b:{b} {{{REF}: r.b}}) CREATE (a)-[e:{rel}]->(b) SET e = r.props"
            for chunk in _chunks(rows):
                await runner.write_rows(text, {"rows": chunk}, "legacy_fixture")
        for label in self.nodes:
            await runner.write_rows(f"MATCH (n:{label}) SET n.{REF} = null", {}, "legacy_fixture")


def _chunks(rows: list[Props]) -> list[list[Props]]:
    return [rows[i : i + STATEMENT_ROWS] for i in range(0, len(rows), STATEMENT_ROWS)]


def fixture_graph() -> LegacyGraph:
    """Both eras and every legacy shape, with the defects: a story under two labels with different titles,
    decisions without a title, string timestamps, a dangling AFFECTS to a subtask no plan holds, orphans."""
    g = LegacyGraph()
    _planning(g)
    _checkout_story(g)
    _planning_only_story(g)
    _older_era_case(g)
    _orphans(g)
    return g


def _planning(g: LegacyGraph) -> None:
    g.node(
        "Project",
        "P-LEG",
        project_id="P-LEG",
        name="Legacy storefront",
        description="Shop rebuilt in 2025",
        status="active",
        owner="olga",
        created_at_ms=str(sept_ms(1)),
    )
    g.node(
        "Epic",
        "E-LEG",
        epic_id="E-LEG",
        title="Checkout",
        description="Paying for a basket",
        status="active",
        created_at_ms=sept_ms(1, 10),
    )
    g.node(
        "Epic",
        "E-LOST",
        epic_id="E-LOST",
        title="An epic no project holds",
        status="active",
        created_at_ms=sept_ms(1, 11),
    )
    g.edge("P-LEG", "HAS_EPIC", "E-LEG")


def _checkout_story(g: LegacyGraph) -> None:
    """L-100: under ProjectCase and Story with different titles; the newer era's tasks, plan and decisions."""
    pc = g.node(
        "ProjectCase",
        "pc:L-100",
        id="L-100",
        story_id="L-100",
        title="Checkout with saved cards",
        description="Returning buyers pay with a stored card",
        status="in_progress",
        current_phase="build",
        created_at=sept_iso(2),
        updated_at=sept_iso(5),
    )
    st = g.node("Story", "st:L-100", story_id="L-100", epic_id="E-LEG", name="Saved-card checkout")
    g.edge("E-LEG", "CONTAINS_STORY", st)
    plan = g.node(
        "PlanVersion",
        "PV-100-1",
        id="PV-100-1",
        plan_id="PV-100-1",
        version="2",
        status="approved",
        story_id="L-100",
        author_id="arch-1",
        rationale="Tokenise first, then the UI",
        created_at_ms=str(sept_ms(3)),
    )
    g.edge(st, "HAS_PLAN", plan)
    t1 = g.node(
        "Task",
        "L-100-T1",
        task_id="L-100-T1",
        story_id="L-100",
        title="Card vault client",
        description="Talk to the PSP vault",
        role="DEV",
        priority=1,
        estimated_hours="6",
        status="in_progress",
        created_at=sept_iso(3, 10),
        updated_at=sept_iso(4),
    )
    t2 = g.node(
        "Task",
        "L-100-T2",
        task_id="L-100-T2",
        story_id="L-100",
        title="Saved-card picker",
        description="",
        role="frontend",
        priority="2",
        estimated_hours=3.5,
        status="todo",
        created_at=sept_iso(3, 11),
        updated_at=sept_iso(3, 11),
    )
    t3 = g.node(
        "Task",
        "L-100-T3",
        task_id="L-100-T3",
        plan_id="PV-100-1",
        title="Checkout e2e tests",
        type="testing",
        status="todo",
    )
    for task in (t1, t2):
        g.edge(task, "BELONGS_TO", pc)
    g.edge(t3, "BELONGS_TO_PLAN", plan)
    g.edge(t2, "DEPENDS_ON", t1)
    g.edge(t3, "DEPENDS_ON", t2)
    g.edge(t3, "DEPENDS_ON", "L-100-T1")
    legacy_plan = g.node("Plan", "plan:PV-100-1", plan_id="PV-100-1")
    g.edge(
        legacy_plan,
        "HAS_TASK",
        t3,
        decided_by="council",
        decision_reason="Regressions hide in checkout",
        council_feedback="add a refund path later",
        decided_at=sept_iso(3, 12),
        source="planning",
    )
    d1 = g.node(
        "Decision",
        "D-100-1",
        id="D-100-1",
        title="Tokenise cards at the PSP",
        rationale="Keeps card data out of scope for PCI",
        status="accepted",
        created_at_ms=str(sept_ms(3, 13)),
        author_id="arch-1",
        story_id="L-100",
    )
    d2 = g.node(
        "Decision",
        "D-100-2",
        id="D-100-2",
        kind="architecture",
        summary="Use an outbox for payment events\nso a crash never loses a capture",
    )
    d3 = g.node(
        "Decision",
        "D-100-3",
        id="D-100-3",
        kind="process",
        summary="Feature flag per market",
        case_id="L-100",
    )
    g.edge(plan, "CONTAINS_DECISION", d1)
    g.edge(t1, "INFLUENCED_BY", d1)
    g.edge(t1, "INFLUENCED_BY", d2)
    g.edge(d2, "DEPENDS_ON", d1)
    g.edge(d3, "GOVERNS", d1)
    actor = g.node("Actor", "actor:arch-1", id="arch-1", name="Ana (architect)")
    g.edge(d1, "AUTHORED_BY", actor)
    g.node(
        "Event",
        "EV-100-1",
        id="EV-100-1",
        case_id="L-100",
        event_type="kickoff",
        description="Story kicked off",
        timestamp_ms=str(sept_ms(2, 10)),
    )
    g.node(
        "Event",
        "EV-100-2",
        id="EV-100-2",
        case_id="L-100",
        event_type="demo",
        description="Vault client demo",
        timestamp_ms=sept_ms(4, 15),
    )
    g.node(
        "Event",
        "EV-100-3",
        id="EV-100-3",
        case_id="L-100",
        event_type="note",
        description="Timestamp the legacy could not parse",
        timestamp_ms="last tuesday",
    )
    for ref, source, target, extra in (
        ("pt:1", "DESIGN", "BUILD", {"timestamp": sept_iso(3, 14), "rationale": "plan approved"}),
        ("pt:2", "design", "build", {"transitioned_at": str(sept_ms(3, 15))}),
    ):
        g.edge(
            pc,
            "HAS_PHASE",
            g.node("PhaseTransition", ref, story_id="L-100", from_phase=source, to_phase=target, **extra),
        )
    g.node(
        "PlanApproval",
        "pa:1",
        id=f"PV-100-1:{sept_ms(3, 14)}",
        plan_id="PV-100-1",
        approved_by="po-1",
        comment="ship it",
        timestamp=sept_ms(3, 14),
    )
    g.node(
        "TaskDispatch",
        "td:1",
        id=f"L-100-T1:{sept_ms(4)}",
        task_id="L-100-T1",
        agent_id="agent-dev-7",
        role="DEVELOPER",
        timestamp=str(sept_ms(4)),
    )


def _planning_only_story(g: LegacyGraph) -> None:
    """L-101: known only from planning events (a Story node with a name, under an epic no project holds)."""
    st = g.node("Story", "st:L-101", story_id="L-101", epic_id="E-LOST", name="Wishlist sharing")
    g.edge("E-LOST", "CONTAINS_STORY", st)


def _older_era_case(g: LegacyGraph) -> None:
    """C-200: the older era (Case, PlanVersion with case_id, Subtasks, decisions with only kind and summary)."""
    case = g.node("Case", "C-200", id="C-200", name="Invoice per tenant")
    plan = g.node("PlanVersion", "PV-200-1", id="PV-200-1", version=1, case_id="C-200")
    g.edge(case, "HAS_PLAN", plan)
    s1 = g.node("Subtask", "C-200-S1", id="C-200-S1", title="Split invoice numbering", type="development")
    s2 = g.node("Subtask", "C-200-S2", id="C-200-S2", title="Tenant header in PDFs", type="development")
    for sub in (s1, s2):
        g.edge(plan, "HAS_SUBTASK", sub)
    missing = g.node("Subtask", "C-200-S9", id="C-200-S9")
    d1 = g.node("Decision", "D-200-1", id="D-200-1", kind="design", summary="One invoice sequence per tenant")
    d2 = g.node(
        "Decision",
        "D-200-2",
        id="D-200-2",
        title="Sequences live in Postgres",
        rationale="Gap-free numbers need a transaction",
        status="accepted",
        created_at_ms="2026-09-06T08:00:00Z",
        case_id="C-200",
    )
    g.edge(plan, "CONTAINS_DECISION", d1)
    g.edge(d1, "AFFECTS", s1)
    g.edge(d1, "AFFECTS", missing)
    g.edge(d2, "SUPERSEDES", d1)
    g.edge(d2, "RELATES_TO", d1)
    g.node(
        "Event",
        "EV-200-1",
        id="EV-200-1",
        case_id="C-200",
        event_type="created",
        description="Case opened",
        timestamp_ms=str(sept_ms(6) // 1000),
    )


def _orphans(g: LegacyGraph) -> None:
    g.node("Decision", "D-ORPHAN", id="D-ORPHAN", kind="idea", summary="Maybe crypto payments")
    g.node("Task", "T-ORPHAN", task_id="T-ORPHAN", title="Nobody owns me")
    g.node(
        "Event",
        "EV-ORPHAN",
        id="EV-ORPHAN",
        case_id="C-999",
        event_type="note",
        description="For a case that is gone",
        timestamp_ms=sept_ms(7),
    )


def generated_graph(stories: int, *, seed: int = 15) -> LegacyGraph:
    """A large legacy database: `stories` stories of about 50 nodes each, both eras mixed."""
    rng = random.Random(seed)
    g = LegacyGraph()
    g.node(
        "Project",
        "P-GEN",
        project_id="P-GEN",
        name="Generated",
        status="active",
        created_at_ms=str(sept_ms(1)),
    )
    g.node(
        "Epic", "E-GEN", epic_id="E-GEN", title="Generated epic", status="active", created_at_ms=sept_ms(1)
    )
    g.edge("P-GEN", "HAS_EPIC", "E-GEN")
    for n in range(stories):
        _generated_story(g, f"G-{n:05d}", rng)
    return g


def _generated_story(g: LegacyGraph, key: str, rng: random.Random) -> None:
    pc = g.node(
        "ProjectCase",
        f"pc:{key}",
        id=key,
        story_id=key,
        title=f"Story {key}",
        status="in_progress",
        current_phase=rng.choice(["design", "build", "test"]),
        created_at=sept_iso(2),
    )
    st = g.node("Story", f"st:{key}", story_id=key, epic_id="E-GEN", name=f"Story {key}")
    g.edge("E-GEN", "CONTAINS_STORY", st)
    plan = g.node(
        "PlanVersion",
        f"PV-{key}",
        id=f"PV-{key}",
        plan_id=f"PV-{key}",
        version=1,
        status="approved",
        story_id=key,
        created_at_ms=str(sept_ms(3)),
    )
    g.edge(st, "HAS_PLAN", plan)
    tasks = []
    for i in range(20):
        tid = f"{key}-T{i:02d}"
        tasks.append(
            g.node(
                "Task",
                tid,
                task_id=tid,
                story_id=key,
                title=f"Task {i} of {key}",
                role=rng.choice(["developer", "qa", "devops", "architect"]),
                priority=rng.randint(1, 5),
                estimated_hours=str(rng.randint(1, 8)),
                status=rng.choice(["todo", "in_progress", "done"]),
                created_at=sept_iso(3),
            )
        )
        g.edge(tid, "BELONGS_TO", pc)
        if i:
            g.edge(tid, "DEPENDS_ON", tasks[rng.randrange(i)])
    decisions = []
    for i in range(10):
        did = f"D-{key}-{i}"
        props = (
            {"title": f"Decision {i}", "rationale": "because", "status": "accepted", "story_id": key}
            if i % 2
            else {"kind": "design", "summary": f"Summary {i} of {key}", "case_id": key}
        )
        decisions.append(g.node("Decision", did, id=did, created_at_ms=str(sept_ms(4)), **props))
        g.edge(plan, "CONTAINS_DECISION", did)
        g.edge(tasks[rng.randrange(20)], "INFLUENCED_BY", did)
        if i:
            g.edge(did, "DEPENDS_ON", decisions[rng.randrange(i)])
    for i in range(12):
        g.node(
            "Event",
            f"EV-{key}-{i}",
            id=f"EV-{key}-{i}",
            case_id=key,
            event_type="note",
            description=f"Event {i}",
            timestamp_ms=str(sept_ms(5) + i),
        )
    g.edge(
        pc,
        "HAS_PHASE",
        g.node(
            "PhaseTransition",
            f"pt:{key}",
            story_id=key,
            from_phase="DESIGN",
            to_phase="BUILD",
            timestamp=sept_iso(4),
        ),
    )
    g.node(
        "PlanApproval",
        f"pa:{key}",
        id=f"PV-{key}:{sept_ms(4)}",
        plan_id=f"PV-{key}",
        approved_by="po",
        timestamp=sept_ms(4),
    )
    for i in range(3):
        g.node(
            "TaskDispatch",
            f"td:{key}:{i}",
            id=f"{key}-T{i:02d}:{sept_ms(5)}",
            task_id=f"{key}-T{i:02d}",
            agent_id="agent",
            role="developer",
            timestamp=str(sept_ms(5)),
        )
