"""A story's whole subgraph in Cypher: one read statement out, one write statement in.

The import statement deletes the story's old subgraph (nodes hanging off it, its history and commit records)
and writes the snapshot's in the same statement, so it is atomic on FalkorDB (one statement) and on Neo4j
(one transaction). The new story node carries the old revision plus one, so a commit prepared against the
old story finds no row and retries against the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import MISSING
from typing import Any

from context_service.adapters.cypher.catalogue import (
    CHANGE_LABEL,
    HAS_CHANGE,
    HAS_COMMIT,
    REVISION,
    STORY_RELATIONS,
    TOUCH_STORIES,
    Params,
    label,
    relation,
)
from context_service.adapters.cypher.commit import history_row
from context_service.adapters.cypher.commit_emit import StatementBuilder
from context_service.adapters.property_graph.archive import SNAPSHOT_RELATIONS
from context_service.adapters.property_graph.store import Edge, PropertyGraph, public
from context_service.domain.model import ChangeRecord
from context_service.domain.mutations import HISTORY_SEQ, LinkKind
from context_service.domain.snapshot import CHANGE_FIELDS, StorySubgraph

# Rows of (label, properties, outgoing edges as [type, end label, end id, properties]).
EXPORT_STORY = f"""
MATCH (s:Story {{id: $id}})
OPTIONAL MATCH (s)-[r]->(c) WHERE type(r) IN $story_relations
WITH s, collect(c) AS cs
UNWIND [s] + cs AS a
OPTIONAL MATCH (a)-[e]->(b) WHERE type(e) IN $relations AND (b = s OR b IN cs)
RETURN labels(a)[0] AS label, properties(a) AS props,
  collect(CASE WHEN e IS NULL THEN NULL ELSE [type(e), labels(b)[0], b.id, properties(e)] END) AS out
UNION ALL
MATCH (s:Story {{id: $id}})<-[:CONTAINS_STORY]-(ep:Epic)
RETURN 'Epic' AS label, properties(ep) AS props, [['CONTAINS_STORY', 'Story', s.id, {{}}]] AS out
UNION ALL
MATCH (s:Story {{id: $id}})<-[:CONTAINS_STORY]-(ep:Epic)<-[:HAS_EPIC]-(pr:Project)
RETURN 'Project' AS label, properties(pr) AS props, [['HAS_EPIC', 'Epic', ep.id, {{}}]] AS out
UNION ALL
MATCH (s:Story {{id: $id}})-[:{HAS_CHANGE}]->(h:{CHANGE_LABEL})
RETURN '{CHANGE_LABEL}' AS label, properties(h) AS props, [] AS out
"""
# What a field the stored node predates reads as: its declared default, else 0 or "".
_DEFAULTS: dict[str, Any] = {
    name: f.default if f.default is not MISSING else 0 if f.type == "int" else ""
    for name, f in ChangeRecord.__dataclass_fields__.items()
}


def export_params(story_id: str) -> Params:
    """Parameters of EXPORT_STORY."""
    return {"id": story_id, "story_relations": list(STORY_RELATIONS), "relations": sorted(SNAPSHOT_RELATIONS)}


def change_record(props: dict[str, Any]) -> ChangeRecord:
    """A stored ContextChange node as a record (fields the node predates take their defaults)."""
    return ChangeRecord(**{f: props.get(f, _DEFAULTS[f]) for f in CHANGE_FIELDS})


def listed_change(values: list[Any]) -> ChangeRecord:
    """A record from its values in CHANGE_FIELDS order (None: a field the node predates)."""
    return ChangeRecord(
        **{f: _DEFAULTS[f] if v is None else v for f, v in zip(CHANGE_FIELDS, values, strict=True)}
    )


def rows_graph(rows: Iterable[Sequence[Any]]) -> PropertyGraph:
    """Rows of (label, properties, outgoing edges as [type, end label, end id, properties]) as a graph."""
    listed = list(rows)
    graph = PropertyGraph()
    for node_label, props, _out in listed:
        graph.nodes[(node_label, str(props["id"]))] = public(props)
    for node_label, props, out in listed:
        for rel_type, end_label, end_id, rel_props in out:
            src = (node_label, str(props["id"]))
            graph.put_edge(Edge(src, rel_type, (end_label, str(end_id))), public(rel_props))
    return graph


def read_export(rows: Sequence[Sequence[Any]]) -> tuple[PropertyGraph, list[ChangeRecord]]:
    """The rows of EXPORT_STORY as a property graph (projected like the memory store's) and the history."""
    history = [change_record(props) for node_label, props, _out in rows if node_label == CHANGE_LABEL]
    return rows_graph(row for row in rows if row[0] != CHANGE_LABEL), history


def import_statement(subgraph: StorySubgraph, *, replace: bool) -> tuple[str, Params]:
    """The one statement that swaps the story's subgraph for the snapshot's; no row when it must not."""
    b = StatementBuilder()
    owned = [*STORY_RELATIONS, HAS_CHANGE, HAS_COMMIT]
    last_seq = subgraph.history[-1].seq if subgraph.history else 0
    b.lines += [
        f"OPTIONAL MATCH (old:Story {{id: {b.param('story', subgraph.story_id)}}})",
        f"WITH old, coalesce(old.{REVISION}, 0) AS rev, coalesce(old.{HISTORY_SEQ}, 0) AS hseq",
        f"WHERE {b.param('replace', replace)} OR old IS NULL",
        f"OPTIONAL MATCH (old)-[r]->(x) WHERE type(r) IN {b.param('owned', owned)}",
        # Stories with an edge into the old subgraph: the import cuts it, so their cached reads go stale.
        "OPTIONAL MATCH (x)--(y) WHERE y.story_id IS NOT NULL AND y.story_id <> old.id",
        "WITH old, rev, hseq, collect(DISTINCT x) AS doomed, collect(DISTINCT y.story_id) AS near",
        "OPTIONAL MATCH (o:Story) WHERE o.id IN near",
        "WITH old, rev, hseq, doomed, collect(o) AS touched",
        TOUCH_STORIES,
        "FOREACH (d IN doomed | DETACH DELETE d)",
        "FOREACH (d IN CASE WHEN old IS NULL THEN [] ELSE [old] END | DETACH DELETE d)",
        f"WITH rev, CASE WHEN hseq > {b.param('last', last_seq)} THEN hseq ELSE $last END AS hseq",
        f"CREATE (s:Story) SET s = {b.param('props', dict(subgraph.story))}, s.{REVISION} = rev + 1, "
        f"s.{HISTORY_SEQ} = hseq",
    ]
    _nodes(b, subgraph)
    _edges(b, subgraph)
    rows = [history_row(subgraph.story_id, r) for r in subgraph.history]
    # CREATE, not MERGE: a record's id is the story's id and its seq, and the story's old records went above
    # (a quarter of the statement's time on the large story went to merging 1,000 records).
    b.lines.append(
        f"FOREACH (h IN {b.param('history', rows)} | "
        f"CREATE (s)-[:{HAS_CHANGE}]->(c:{CHANGE_LABEL}) SET c = h)"
    )
    _parents(b, subgraph)
    b.lines.append("RETURN s.id AS id")
    return "\n".join(b.lines), b.params


def _nodes(b: StatementBuilder, subgraph: StorySubgraph) -> None:
    by_label: dict[str, list[dict[str, Any]]] = {}
    for node in subgraph.nodes:
        by_label.setdefault(node.label, []).append(dict(node.properties))
    for i, (name, nodes) in enumerate(sorted(by_label.items())):
        b.lines.append(
            f"FOREACH (n IN {b.param(f'nodes{i}', nodes)} | MERGE (x:{label(name)} {{id: n.id}}) SET x = n)"
        )


def _edges(b: StatementBuilder, subgraph: StorySubgraph) -> None:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in subgraph.edges:
        row = {"src": e.src.node_id, "dst": e.dst.node_id, "props": dict(e.properties)}
        groups.setdefault((e.src.label, e.rel_type, e.dst.label), []).append(row)
    for i, ((src, rel, dst), rows) in enumerate(sorted(groups.items())):
        b.lines += [
            f"WITH s UNWIND {b.param(f'edges{i}', rows)} AS e",
            f"MATCH (a:{label(src)} {{id: e.src}}) MATCH (z:{label(dst)} {{id: e.dst}})",
            f"CREATE (a)-[r:{relation(rel)}]->(z) SET r = e.props",
            f"WITH s, count(*) AS _{i}",
        ]


def _parents(b: StatementBuilder, subgraph: StorySubgraph) -> None:
    if subgraph.epic is None:
        return
    epic, project = dict(subgraph.epic), subgraph.project
    b.lines.append(
        f"MERGE (ep:Epic {{id: {b.param('epic_id', epic['id'])}}}) "
        f"ON CREATE SET ep = {b.param('epic', epic)} MERGE (ep)-[:{LinkKind.CONTAINS_STORY.value}]->(s)"
    )
    if project is not None:
        b.lines.append(
            f"MERGE (pr:Project {{id: {b.param('project_id', project['id'])}}}) "
            f"ON CREATE SET pr = {b.param('project', dict(project))} "
            f"MERGE (pr)-[:{LinkKind.HAS_EPIC.value}]->(ep)"
        )
