"""Projections of a property graph into domain snapshots (every graph adapter projects through these)."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from context_service.adapters.property_graph.store import NodeKey, PropertyGraph, Props
from context_service.domain.model import (
    Decision,
    DecisionEdge,
    GraphEntity,
    GraphLink,
    Milestone,
    Neighbourhood,
    PhaseTransition,
    PlanVersion,
    Story,
    StoryGraph,
    Task,
    TaskOrigin,
    is_live,
)
from context_service.domain.mutations import CONTENT_REVISION, DECISION_RELATIONS, NodeKind


def _s(props: Props, key: str, default: str = "") -> str:
    value = props.get(key)
    return default if value is None else str(value)


def _i(props: Props, key: str) -> int:
    value = props.get(key)
    return int(value) if isinstance(value, int | float) else 0


def story_of(p: Props) -> Story:
    """Story entity from node properties."""
    return Story(
        story_id=_s(p, "id"),
        title=_s(p, "title"),
        description=_s(p, "description"),
        status=_s(p, "status", "ACTIVE"),
        current_phase=_s(p, "current_phase", "DESIGN"),
        context_version=_i(p, "context_version"),
        created_by=_s(p, "created_by"),
        created_at=_s(p, "created_at"),
        updated_at=_s(p, "updated_at"),
        epic_id=_s(p, "epic_id"),
        content_revision=_i(p, CONTENT_REVISION),
    )


def _live(graph: PropertyGraph, key: NodeKey) -> Props | None:
    props = graph.node(key)
    return props if props is not None and is_live(_s(props, "status")) else None


def _children(graph: PropertyGraph, story: NodeKey, rel: str) -> list[tuple[NodeKey, Props]]:
    found = []
    for edge in graph.out_edges(story, rel):
        props = _live(graph, edge.dst)
        if props is not None:
            found.append((edge.dst, props))
    return found


def _origin(graph: PropertyGraph, key: NodeKey) -> TaskOrigin | None:
    edges = graph.in_edges(key, "HAS_TASK")
    edges.sort(key=lambda e: e.src[0] != NodeKind.PLAN.value)  # plan edge wins over the story's
    for edge in edges:
        props = graph.edges.get(edge) or {}
        origin = TaskOrigin(**{k: _s(props, k) for k in TaskOrigin.__dataclass_fields__})
        if not origin.is_empty():
            return origin
    return None


def _task(graph: PropertyGraph, key: NodeKey, p: Props) -> Task:
    deps = tuple(e.dst[1] for e in graph.out_edges(key, "DEPENDS_ON") if _live(graph, e.dst) is not None)
    return Task(
        task_id=_s(p, "id"),
        story_id=_s(p, "story_id"),
        title=_s(p, "title"),
        description=_s(p, "description"),
        role=_s(p, "role"),
        status=_s(p, "status", "PENDING"),
        priority=_i(p, "priority"),
        estimated_hours=_i(p, "estimated_hours"),
        dependencies=tuple(sorted(deps)),
        plan_id=_s(p, "plan_id"),
        task_type=_s(p, "type"),
        created_at=_s(p, "created_at"),
        updated_at=_s(p, "updated_at"),
        origin=_origin(graph, key),
    )


def _decision(graph: PropertyGraph, key: NodeKey, p: Props) -> Decision:
    influences = [e.src[1] for e in graph.in_edges(key, "INFLUENCED_BY") if _live(graph, e.src) is not None]
    metadata: Any = json.loads(_s(p, "metadata", "{}") or "{}")
    return Decision(
        decision_id=_s(p, "id"),
        story_id=_s(p, "story_id"),
        title=_s(p, "title"),
        rationale=_s(p, "rationale"),
        status=_s(p, "status", "PROPOSED"),
        decision_type=_s(p, "decision_type"),
        alternatives_considered=_s(p, "alternatives_considered"),
        decided_by=_s(p, "decided_by", "UNKNOWN"),
        decided_at=_s(p, "decided_at"),
        created_at_ms=_i(p, "created_at_ms"),
        metadata={str(k): str(v) for k, v in metadata.items()},
        influences=tuple(sorted(influences)),
    )


def story_graph_of(graph: PropertyGraph, story_id: str) -> StoryGraph | None:
    """Everything about one story, following only edges from that story's node."""
    key: NodeKey = (NodeKind.STORY.value, story_id)
    props = graph.node(key)
    if props is None:
        return None
    decisions = _children(graph, key, "HAS_DECISION")
    decision_ids = {k for k, _ in decisions}
    edges = [
        DecisionEdge(e.src[1], e.dst[1], e.rel_type)
        for k, _ in decisions
        for e in graph.out_edges(k)
        if e.rel_type in DECISION_RELATIONS and e.dst in decision_ids
    ]
    return StoryGraph(
        story=story_of(props),
        tasks=tuple(_task(graph, k, p) for k, p in _children(graph, key, "HAS_TASK")),
        decisions=tuple(_decision(graph, k, p) for k, p in decisions),
        decision_edges=tuple(edges),
        plans=tuple(_plan(p) for _, p in _children(graph, key, "HAS_PLAN")),
        milestones=tuple(_milestone(p) for _, p in _children(graph, key, "HAS_MILESTONE")),
        transitions=tuple(_transition(p) for _, p in _children(graph, key, "HAS_PHASE")),
    )


def _plan(p: Props) -> PlanVersion:
    return PlanVersion(
        plan_id=_s(p, "id"),
        story_id=_s(p, "story_id"),
        version=_i(p, "version"),
        status=_s(p, "status", "DRAFT"),
        author_id=_s(p, "author_id"),
        rationale=_s(p, "rationale"),
        created_at_ms=_i(p, "created_at_ms"),
    )


def _milestone(p: Props) -> Milestone:
    return Milestone(
        event_type=_s(p, "event_type"),
        description=_s(p, "description"),
        ts_ms=_i(p, "ts_ms"),
        actor=_s(p, "actor"),
        milestone_id=_s(p, "id"),
        status=_s(p, "status"),
    )


def _transition(p: Props) -> PhaseTransition:
    return PhaseTransition(
        transition_id=_s(p, "id"),
        story_id=_s(p, "story_id"),
        from_phase=_s(p, "from_phase"),
        to_phase=_s(p, "to_phase"),
        rationale=_s(p, "rationale"),
        transitioned_at=_s(p, "transitioned_at"),
        ts_ms=_i(p, "ts_ms"),
    )


def _shown(props: Props) -> dict[str, Any]:
    """A node's properties without the stores' own bookkeeping (names starting with "_")."""
    return {k: v for k, v in props.items() if not k.startswith("_")}


def neighbourhood_of(graph: PropertyGraph, start: NodeKey, depth: int, limit: int) -> Neighbourhood | None:
    """Breadth-first over edges in both directions, at most `depth` hops and `limit` neighbours."""
    if _live(graph, start) is None:
        return None
    seen = {start}
    queue: deque[tuple[NodeKey, int]] = deque([(start, 0)])
    truncated = False
    while queue:
        key, hops = queue.popleft()
        if hops == depth:
            continue
        for edge in graph.out_edges(key) + graph.in_edges(key):
            other = edge.dst if edge.src == key else edge.src
            if other in seen or _live(graph, other) is None:
                continue
            if len(seen) > limit:
                truncated = True
                break
            seen.add(other)
            queue.append((other, hops + 1))
    links = [
        GraphLink(e.src[1], e.dst[1], e.rel_type, dict(graph.edges.get(e) or {}))
        for e in sorted(
            {e for k in seen for e in graph.out.get(k, ()) if e.dst in seen},
            key=lambda e: (e.src, e.rel_type, e.dst),
        )
    ]
    entities = {k: GraphEntity(k[1], k[0], _shown(graph.nodes[k])) for k in seen}
    neighbours = tuple(entities[k] for k in sorted(seen - {start}))
    return Neighbourhood(node=entities[start], neighbours=neighbours, links=tuple(links), truncated=truncated)
