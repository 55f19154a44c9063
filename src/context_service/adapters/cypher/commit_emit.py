"""The grouped form of a commit statement: one UNWIND per node label and per edge kind.

A batch of checked mutations becomes a few clauses whatever its size, so the engine plans one short statement
(and reuses the plan for the next batch of the same shape) instead of a clause chain per node. Used for every
batch that replaces no links, where applying all node upserts before all edges gives the same graph.

Nodes are created first and their properties set after every creation (`StatementBuilder.sets`): on FalkorDB
the first node update that follows a node creation in a statement folds the pending node-label changes into
their matrix, a cost that grows with the graph's size (2-4 ms at 50-100k nodes) and is paid again after each
further creation, whether it updates one node or fifty. One creation phase, then one update phase: paid once.

An edge is MERGEd only when both its ends were there at the preflight; any other edge cannot exist yet and is
CREATEd, once. The difference is the write cost on FalkorDB: a MERGE of an edge first reads that
relationship type's matrix, which makes the engine fold every edge of that type written since its last flush
(up to its DELTA_MAX_PENDING_CHANGES, 10,000 by default) into it, in every statement; a CREATE only appends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from context_service.adapters.cypher.catalogue import Params, label, relation
from context_service.domain.mutations import STORY_EDGES, Mutation, NodeKind

PLAN = NodeKind.PLAN.value
TASK = NodeKind.TASK.value


class StatementBuilder:
    """Clauses and parameters of a write statement: `lines` create, `sets` (all after them) update nodes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sets: list[str] = []
        self.params: Params = {}

    def text(self) -> str:
        """The statement: every creating clause, then every updating one."""
        return "\n".join([*self.lines, *self.sets])

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
    existed: bool = True  # the node was there at the preflight (so edges to it may exist already)


@dataclass
class _Groups:
    """A batch sorted into node upserts by label, edges by kind, task-origin edges by where they start.

    Node and edge groups are split by whether the edge to write is new. A node upserted twice is one row
    (`SET n += a` then `+= b` is `+= {**a, **b}`) and an edge drawn twice is one row: none is created twice.
    """

    new_nodes: set[tuple[str, str]]  # what the preflight did not find (the story too, when it is new)
    nodes: dict[tuple[str, bool], list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[tuple[str, str, str, bool], list[dict[str, str]]] = field(default_factory=dict)
    origins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _edges: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, c: Checked, story: tuple[str, str]) -> None:
        m = c.mutation
        node = (m.kind.value, m.node_id)
        if not c.is_story:
            self._node(node, c.props, new=bool({node, story} & self.new_nodes))
        for link in m.links:
            ends = [node, (link.target_kind.value, link.target_id)]
            (a_label, a), (b_label, z) = reversed(ends) if link.incoming else ends
            if (edge := (a_label, a, link.kind.value, b_label, z)) in self._edges:
                continue
            self._edges.add(edge)
            new = bool({(a_label, a), (b_label, z)} & self.new_nodes)
            self.links.setdefault((a_label, link.kind.value, b_label, new), []).append({"a": a, "b": z})
        if c.plan is not None:
            row = {"plan": c.plan, "task": m.node_id, "props": dict(m.plan_edge or {})}
            self.origins.setdefault("plan" if c.plan else "story", []).append(row)

    def _node(self, node: tuple[str, str], props: dict[str, Any], *, new: bool) -> None:
        """One row per node: the story's edge to it is created (new) or merged (it may exist)."""
        if node in self._rows:
            self._rows[node]["props"].update(props)
            return
        self._rows[node] = row = {"id": node[1], "props": dict(props)}
        self.nodes.setdefault((node[0], new), []).append(row)


def _write_edge(new: bool) -> str:
    """CREATE for an edge that cannot exist yet, MERGE for one that may."""
    return "CREATE" if new else "MERGE"


def emit_grouped(
    b: StatementBuilder, checked: list[Checked], *, story: tuple[str, str], story_existed: bool
) -> None:
    """Story properties, then node upserts by label, then edges by kind, then task-origin edges."""
    new_nodes = {(c.mutation.kind.value, c.mutation.node_id) for c in checked if not c.existed}
    groups = _Groups(new_nodes | (set() if story_existed else {story}))
    for n, c in enumerate(checked):
        if c.is_story:
            b.sets.append(f"SET s += {b.param(f'g_s{n}', c.props)}")
        groups.add(c, story)
    for k, ((name, new), rows) in enumerate(groups.nodes.items()):
        story_edge = STORY_EDGES.get(NodeKind(name))
        edge = f" {_write_edge(new)} (s)-[:{relation(story_edge)}]->(n)" if story_edge else ""
        rows_param = b.param(f"g_n{k}", rows)
        b.lines.append(
            f"WITH s UNWIND {rows_param} AS r MERGE (n:{label(name)} {{id: r.id}}){edge} "
            f"WITH s, count(*) AS g_n{k}"
        )
        b.sets.append(
            f"WITH s UNWIND {rows_param} AS r MATCH (n:{label(name)} {{id: r.id}}) SET n += r.props "
            f"WITH s, count(*) AS g_u{k}"
        )
    for k, ((a_label, rel, b_label, new), rows) in enumerate(groups.links.items()):
        b.lines.append(
            f"WITH s UNWIND {b.param(f'g_l{k}', rows)} AS r MATCH (a:{label(a_label)} {{id: r.a}}) "
            f"MATCH (z:{label(b_label)} {{id: r.b}}) {_write_edge(new)} (a)-[:{relation(rel)}]->(z) "
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
