"""A graph as the legacy service left it, written with raw Cypher (`LegacyGraph`), and a large generated one.

`LegacyGraph` collects nodes (label, properties) and edges, then writes them with one UNWIND statement per
label and per edge kind. `generated_graph(n)` is a database of `n` stories (about 50 nodes each) for the
benchmark; `tests/support/legacy_fixture.py` holds the small hand-written one of the tests and goldens.
"""

# ruff: noqa: E501 — the generated rows read best as one row per line

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


def generated_graph(stories: int, *, seed: int = 15) -> LegacyGraph:
    """A large legacy database: `stories` stories of 50 nodes each."""
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
        key = f"G-{n:05d}"
        plan, tasks = _generated_story(g, key, rng)
        _generated_decisions(g, key, plan, tasks, rng)
        _generated_events(g, key)
    return g


# fmt: off
def _generated_story(g: LegacyGraph, key: str, rng: random.Random) -> tuple[str, list[str]]:
    pc = g.node("ProjectCase", f"pc:{key}", id=key, story_id=key, title=f"Story {key}", status="in_progress", current_phase=rng.choice(["design", "build", "test"]), created_at=sept_iso(2))
    st = g.node("Story", f"st:{key}", story_id=key, epic_id="E-GEN", name=f"Story {key}")
    g.edge("E-GEN", "CONTAINS_STORY", st)
    plan = g.node("PlanVersion", f"PV-{key}", id=f"PV-{key}", plan_id=f"PV-{key}", version=1, status="approved", story_id=key, created_at_ms=str(sept_ms(3)))
    g.edge(st, "HAS_PLAN", plan)
    tasks: list[str] = []
    for i in range(20):
        tid = f"{key}-T{i:02d}"
        tasks.append(g.node("Task", tid, task_id=tid, story_id=key, title=f"Task {i} of {key}", role=rng.choice(["developer", "qa", "devops", "architect"]), priority=rng.randint(1, 5), estimated_hours=str(rng.randint(1, 8)), status=rng.choice(["todo", "in_progress", "done"]), created_at=sept_iso(3)))
        g.edge(tid, "BELONGS_TO", pc)
        if i:
            g.edge(tid, "DEPENDS_ON", tasks[rng.randrange(i)])
    g.edge(pc, "HAS_PHASE", g.node("PhaseTransition", f"pt:{key}", story_id=key, from_phase="DESIGN", to_phase="BUILD", timestamp=sept_iso(4)))
    return plan, tasks


def _generated_decisions(g: LegacyGraph, key: str, plan: str, tasks: list[str], rng: random.Random) -> None:
    decisions: list[str] = []
    for i in range(10):
        did = f"D-{key}-{i}"
        props = {"title": f"Decision {i}", "rationale": "because", "status": "accepted", "story_id": key} if i % 2 else {"kind": "design", "summary": f"Summary {i} of {key}", "case_id": key}
        decisions.append(g.node("Decision", did, id=did, created_at_ms=str(sept_ms(4)), **props))
        g.edge(plan, "CONTAINS_DECISION", did)
        g.edge(tasks[rng.randrange(len(tasks))], "INFLUENCED_BY", did)
        if i:
            g.edge(did, "DEPENDS_ON", decisions[rng.randrange(i)])


def _generated_events(g: LegacyGraph, key: str) -> None:
    for i in range(12):
        g.node("Event", f"EV-{key}-{i}", id=f"EV-{key}-{i}", case_id=key, event_type="note", description=f"Event {i}", timestamp_ms=str(sept_ms(5) + i))
    g.node("PlanApproval", f"pa:{key}", id=f"PV-{key}:{sept_ms(4)}", plan_id=f"PV-{key}", approved_by="po", timestamp=sept_ms(4))
    for i in range(3):
        g.node("TaskDispatch", f"td:{key}:{i}", id=f"{key}-T{i:02d}:{sept_ms(5)}", task_id=f"{key}-T{i:02d}", agent_id="agent", role="developer", timestamp=str(sept_ms(5)))
# fmt: on
