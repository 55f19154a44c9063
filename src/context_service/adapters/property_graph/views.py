"""Projections of a property graph into domain snapshots (every graph adapter projects through these).

A node's properties become its entity through its label's `domain.schema` module (`read`, with the read
defaults); this module only walks the edges.
"""

from __future__ import annotations

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


def story_graph_of(graph: PropertyGraph, story_id: str) -> StoryGraph | None:
    """Everything about one story, following only edges from that story's node."""
    key: NodeKey = (NodeKind.STORY.value, story_id)
    props = graph.node(key)
    if props is None:
        return None
    decisions = _children(graph, key, decision.LABEL.story_edge)
    decision_ids = {k for k, _ in decisions}
    edges = [
        DecisionEdge(e.src[1], e.dst[1], e.rel_type)
        for k, _ in decisions
        for e in graph.out_edges(k)
        if e.rel_type in DECISION_RELATIONS and e.dst in decision_ids
    ]
    return StoryGraph(
        story=story_of(props),
        tasks=tuple(_task(graph, k, p) for k, p in _children(graph, key, task.LABEL.story_edge)),
        decisions=tuple(_decision(graph, k, p) for k, p in decisions),
        decision_edges=tuple(edges),
        plans=tuple(plan.read(p) for _, p in _children(graph, key, plan.LABEL.story_edge)),
        milestones=tuple(milestone.read(p) for _, p in _children(graph, key, milestone.LABEL.story_edge)),
        transitions=tuple(transition.read(p) for _, p in _children(graph, key, transition.LABEL.story_edge)),
        cacheable=not _touches_unowned(graph, key),
    )


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
