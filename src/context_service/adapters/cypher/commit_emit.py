"""The grouped form of a commit statement: one UNWIND per node label and per edge kind.

A batch of checked mutations becomes a few clauses whatever its size, so the engine plans one short statement
(and reuses the plan for the next batch of the same shape) instead of a clause chain per node. Used for every
batch that replaces no links, where applying all node upserts before all edges gives the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from context_service.adapters.cypher.catalogue import Params, label, relation
from context_service.domain.mutations import STORY_EDGES, Mutation, NodeKind

PLAN = NodeKind.PLAN.value
TASK = NodeKind.TASK.value


class StatementBuilder:
    """Accumulates clauses and parameters of the write statement."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.params: Params = {}

    def param(self, name: str, value: Any) -> str:
        """Bind a value; the placeholder to put in the text."""
        self.params[name] = value
        return f"${name}"


@dataclass(frozen=True)
class Checked:
    """A mutation after the commit's checks: the properties it sets and the plan its task edge goes to."""

    mutation: Mutation
    props: dict[str, Any]
    is_story: bool
    plan: str | None  # None: no plan edge; '': the edge hangs from the story; else the story's own plan


@dataclass
class _Groups:
    """A batch sorted into node upserts by label, edges by kind, task-origin edges by where they start."""

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[tuple[str, str, str], list[dict[str, str]]] = field(default_factory=dict)
    origins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, c: Checked) -> None:
        m = c.mutation
        if not c.is_story:
            self.nodes.setdefault(m.kind.value, []).append({"id": m.node_id, "props": c.props})
        for link in m.links:
            ends = [(m.kind.value, m.node_id), (link.target_kind.value, link.target_id)]
            (a_label, a), (b_label, z) = reversed(ends) if link.incoming else ends
            self.links.setdefault((a_label, link.kind.value, b_label), []).append({"a": a, "b": z})
        if c.plan is not None:
            row = {"plan": c.plan, "task": m.node_id, "props": dict(m.plan_edge or {})}
            self.origins.setdefault("plan" if c.plan else "story", []).append(row)


def emit_grouped(b: StatementBuilder, checked: list[Checked]) -> None:
    """Story properties, then node upserts by label, then edges by kind, then task-origin edges."""
    groups = _Groups()
    for n, c in enumerate(checked):
        if c.is_story:
            b.lines.append(f"SET s += {b.param(f'g_s{n}', c.props)}")
        groups.add(c)
    for k, (name, rows) in enumerate(groups.nodes.items()):
        story_edge = STORY_EDGES.get(NodeKind(name))
        edge = f" MERGE (s)-[:{relation(story_edge)}]->(n)" if story_edge else ""
        b.lines.append(
            f"WITH s UNWIND {b.param(f'g_n{k}', rows)} AS r MERGE (n:{label(name)} {{id: r.id}}) "
            f"SET n += r.props{edge} WITH s, count(*) AS g_n{k}"
        )
    for k, ((a_label, rel, b_label), rows) in enumerate(groups.links.items()):
        b.lines.append(
            f"WITH s UNWIND {b.param(f'g_l{k}', rows)} AS r MATCH (a:{label(a_label)} {{id: r.a}}) "
            f"MATCH (z:{label(b_label)} {{id: r.b}}) MERGE (a)-[:{relation(rel)}]->(z) "
            f"WITH s, count(*) AS g_l{k}"
        )
    _origins(b, groups.origins)
    b.lines.append("WITH s")


def _origins(b: StatementBuilder, origins: dict[str, list[dict[str, Any]]]) -> None:
    """Why-this-task-exists metadata on (PlanVersion)-[:HAS_TASK]->(Task), else on the story's edge."""
    for where, rows in origins.items():
        task = f"MATCH (t:{TASK} {{id: r.task}})"
        # The story's HAS_TASK edge was merged with the task above; FalkorDB's MERGE would not see it.
        edge = (
            f"MATCH (pl:{PLAN} {{id: r.plan}}) {task} MERGE (pl)-[e:HAS_TASK]->(t)"
            if where == "plan"
            else f"{task} MATCH (s)-[e:HAS_TASK]->(t)"
        )
        b.lines.append(
            f"WITH s UNWIND {b.param(f'g_o_{where}', rows)} AS r {edge} SET e += r.props "
            f"WITH s, count(*) AS g_o_{where}"
        )
