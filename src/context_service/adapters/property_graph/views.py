"""Projections of a property graph into domain snapshots (every graph adapter projects through these).

A node's properties become its entity through its label's `domain.schema` module (`read`, with the read
defaults); this module only walks the edges.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from context_service.adapters.property_graph.store import NodeKey, PropertyGraph, Props, public
from context_service.domain.model import (
    Decision,
    DecisionEdge,
    GraphEntity,
    GraphLink,
    Neighbourhood,
    Story,
    StoryGraph,
    Task,
    TaskOrigin,
    is_live,
)
from context_service.domain.mutations import DECISION_RELATIONS, NodeKind
from context_service.domain.schema import decision, milestone, plan, story, task, transition
from context_service.domain.schema.fields import prop
from context_service.domain.schema.labels import Label


def story_of(p: Props) -> Story:
    """Story entity from node properties."""
    return story.read(p)


def _live(graph: PropertyGraph, key: NodeKey) -> Props | None:
    props = graph.node(key)
    return props if props is not None and is_live(prop(props, "status")) else None


def _children(graph: PropertyGraph, story: NodeKey, rel: str) -> list[tuple[NodeKey, Props]]:
    found = []
    for edge in graph.out_edges(story, rel):
        props = _live(graph, edge.dst)
        if props is not None:
            found.append((edge.dst, props))
    return found


def _origin(graph: PropertyGraph, key: NodeKey) -> TaskOrigin | None:
    edges = graph.in_edges(key, task.LABEL.story_edge)
    edges.sort(key=lambda e: e.src[0] != NodeKind.PLAN.value)  # plan edge wins over the story's
    for edge in edges:
        origin = task.read_origin(graph.edges.get(edge) or {})
        if origin is not None:
            return origin
    return None


def _task(graph: PropertyGraph, key: NodeKey, p: Props) -> Task:
    deps = tuple(e.dst[1] for e in graph.out_edges(key, "DEPENDS_ON") if _live(graph, e.dst) is not None)
    return task.read(p, tuple(sorted(deps)), _origin(graph, key))


def _decision(graph: PropertyGraph, key: NodeKey, p: Props) -> Decision:
    influences = [e.src[1] for e in graph.in_edges(key, "INFLUENCED_BY") if _live(graph, e.src) is not None]
    return decision.read(p, tuple(sorted(influences)))


def _props_only(read: Callable[[Props], Any]) -> Callable[[PropertyGraph, NodeKey, Props], Any]:
    """A child reader for a label whose entity is read from its properties alone (no edges)."""
    return lambda _graph, _key, p: read(p)


# The story's children as StoryGraph fields: the field, the children's label, and how one child reads.
_PARTS: tuple[tuple[str, Label, Callable[[PropertyGraph, NodeKey, Props], Any]], ...] = (
    ("tasks", task.LABEL, _task),
    ("decisions", decision.LABEL, _decision),
    ("plans", plan.LABEL, _props_only(plan.read)),
    ("milestones", milestone.LABEL, _props_only(milestone.read)),
    ("transitions", transition.LABEL, _props_only(transition.read)),
)


class Projection(NamedTuple):
    """A story's projection and, per part, the node keys of the part's entities in the same order: what a
    commit changing or adding a few entities needs to project those alone (`projection_changed`)."""

    story: StoryGraph
    keys: Mapping[str, tuple[NodeKey, ...]]


def story_projection(graph: PropertyGraph, story_id: str) -> Projection | None:
    """Everything about one story, following only edges from that story's node, with its parts' keys."""
    key: NodeKey = (NodeKind.STORY.value, story_id)
    props = graph.node(key)
    if props is None:
        return None
    children = {name: _children(graph, key, label.story_edge) for name, label, _ in _PARTS}
    decision_ids = {k for k, _ in children["decisions"]}
    edges = [
        DecisionEdge(e.src[1], e.dst[1], e.rel_type)
        for k, _ in children["decisions"]
        for e in graph.out_edges(k)
        if e.rel_type in DECISION_RELATIONS and e.dst in decision_ids
    ]
    parts: dict[str, Any] = {
        name: tuple(read(graph, k, p) for k, p in children[name]) for name, _, read in _PARTS
    }
    projected = StoryGraph(
        story=story_of(props),
        decision_edges=tuple(edges),
        cacheable=not _touches_unowned(graph, key),
        **parts,
    )
    return Projection(projected, {name: tuple(k for k, _ in found) for name, found in children.items()})


def story_graph_of(graph: PropertyGraph, story_id: str) -> StoryGraph | None:
    """Everything about one story, following only edges from that story's node."""
    projection = story_projection(graph, story_id)
    return None if projection is None else projection.story


def projection_changed(
    before: Projection,
    graph: PropertyGraph,
    story_id: str,
    changed: Collection[NodeKey],
    added: Collection[NodeKey] = (),
) -> Projection:
    """`story_projection(graph, story_id)`, given `before`: its projection of a graph that differed from
    `graph` only in the properties of the `changed` nodes, none of which was deleted, revived or given another
    owner, and in the `added` nodes, each linked by the story's edge alone. Only the story and those nodes are
    read again: a changed entity is found in its part by its key and a new one goes where the story's edge
    order puts it, both by bisection (the edges of one type from one node sort by node key); every other
    entity is the one `before` holds, and nothing walks the story's other edges."""
    keys = dict(before.keys)
    parts: dict[str, Any] = {}
    for name, label, read in _PARTS:
        kind = label.kind.value
        mine = [k for k in changed if k[0] == kind]
        new = sorted(k for k in added if k[0] == kind)
        if not mine and not new:
            continue
        part_keys, entities = list(keys[name]), list(getattr(before.story, name))
        for k in mine:  # not a child of the story (or not live, as before): not in the part
            props = _live(graph, k)
            at = bisect.bisect_left(part_keys, k)
            if props is not None and at < len(part_keys) and part_keys[at] == k:
                entities[at] = read(graph, k, props)
        for k in new:
            props = _live(graph, k)
            if props is not None:
                at = bisect.bisect_left(part_keys, k)
                part_keys.insert(at, k)
                entities.insert(at, read(graph, k, props))
        keys[name], parts[name] = tuple(part_keys), tuple(entities)
    story_node = graph.nodes[(NodeKind.STORY.value, story_id)]
    return Projection(replace(before.story, story=story_of(story_node), **parts), keys)


def _touches_unowned(graph: PropertyGraph, story_key: NodeKey) -> bool:
    """Whether a node of the story has a neighbour (other than the story) that no story owns."""
    for child in [e.dst for e in graph.out.get(story_key, ())]:
        for edge in [*graph.out.get(child, ()), *graph.into.get(child, ())]:
            end = edge.dst if edge.src == child else edge.src
            if end != story_key and not (graph.node(end) or {}).get("story_id"):
                return True
    return False


def _distances(graph: PropertyGraph, start: NodeKey, depth: int) -> dict[NodeKey, int]:
    """Hops from `start` to every live node within `depth`, over edges in both directions and live nodes."""
    hops = {start: 0}
    frontier = [start]
    for level in range(1, depth + 1):
        reached = []
        for key in frontier:
            for edge in graph.out_edges(key) + graph.in_edges(key):
                other = edge.dst if edge.src == key else edge.src
                if other not in hops and _live(graph, other) is not None:
                    hops[other] = level
                    reached.append(other)
        frontier = reached
    return hops


def neighbourhood_of(graph: PropertyGraph, start: NodeKey, depth: int, limit: int) -> Neighbourhood | None:
    """The `limit` nearest live nodes within `depth` hops, nearer first and then by (label, id)."""
    if _live(graph, start) is None:
        return None
    hops = _distances(graph, start, depth)
    ranked = sorted((h, key) for key, h in hops.items() if key != start)
    truncated = len(ranked) > limit
    seen = {start} | {key for _, key in ranked[:limit]}
    links = [
        GraphLink(e.src[1], e.dst[1], e.rel_type, dict(graph.edges.get(e) or {}))
        for e in sorted(
            {e for k in seen for e in graph.out.get(k, ()) if e.dst in seen},
            key=lambda e: (e.src, e.rel_type, e.dst),
        )
    ]
    entities = {k: GraphEntity(k[1], k[0], public(graph.nodes[k])) for k in seen}
    neighbours = tuple(entities[k] for k in sorted(seen - {start}))
    return Neighbourhood(node=entities[start], neighbours=neighbours, links=tuple(links), truncated=truncated)
