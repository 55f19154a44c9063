"""A story's load carried over a commit that only sets properties of nodes the load already holds.

A Cypher store that has just written a story answers its next read of that story from the load it made
before the write, advanced by the batch, instead of loading the story again. Only plain batches are carried:
every node they write is the story, a node of the load (reached by the story's edge of its kind, where the
kind has one), or a node the engine did not hold that hangs from the story by that edge alone; they draw no
other edge but a new task's dependencies on tasks of the load that the story owns, and remove none (replacing
the links of a node the engine did not hold removes nothing). Then the load after the commit is the load
before it with those nodes' properties merged, as the engine stores them (`SET n +=`), and the new nodes with
their properties on create, the story's edge to each and their dependencies; a node given another `story_id`
stays in the load through the story's edge, with its new properties. Any other batch gives None, and the store
loads the story again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph, Props, public
from context_service.adapters.property_graph.views import Projection, projection_changed, story_projection
from context_service.domain.model import is_live
from context_service.domain.mutations import STORY_EDGES, LinkKind, Mutation, NodeKind, WriteBatch
from context_service.domain.schema.fields import prop

STORY = NodeKind.STORY.value


class Advanced(NamedTuple):
    """A load after a commit: its property graph and its projection."""

    graph: PropertyGraph
    projection: Projection


def advanced(
    graph: PropertyGraph,
    projected: Projection,
    batch: WriteBatch,
    stamped: Mapping[str, Any],
    existed: Collection[NodeKey],
) -> Advanced | None:
    """The story's load after `batch`, given its load before (`graph`, `projected`), what the commit itself
    set on the story node (`stamped`: version, revision, seq) and the nodes that existed before it; None
    when the batch is not plain. The load before is left as it is (the new graph shares what did not change),
    and only the nodes the batch wrote or created are projected again, unless one of them is deleted, revived
    or given another owner."""
    story_key: NodeKey = (STORY, batch.story_id)
    nodes = dict(graph.nodes)
    created: list[Edge] = []
    changed: set[NodeKey] = set()
    added: set[NodeKey] = set()
    reshaped = False
    for m in batch.mutations:
        key: NodeKey = (m.kind.value, m.node_id)
        before = nodes.get(key)
        new = before is None and key not in existed
        # Links replaced on a node the engine did not hold remove nothing (CreateTask).
        if m.plan_edge is not None or (m.replace_links and not new):
            return None
        drawn = _dependencies(nodes, batch.story_id, key, m) if new else None
        if m.links and drawn is None:
            return None
        if new and m.kind in STORY_EDGES:
            nodes[key] = public(m.applied_to(None))  # new, with the story's edge (and its dependencies)
            created.append(Edge(story_key, STORY_EDGES[m.kind], key))
            created.extend(drawn or ())
            added.add(key)
            continue
        if before is None or not _reached(graph, story_key, key, m):
            return None
        nodes[key] = after = {**before, **public(m.fields)}
        changed.add(key)
        reshaped = reshaped or _reshapes(before, after)
    nodes[story_key] = {**nodes[story_key], **stamped}
    carried = graph.with_nodes(nodes, created)
    if reshaped:
        again = story_projection(carried, batch.story_id)
        return None if again is None else Advanced(carried, again)
    return Advanced(carried, projection_changed(projected, carried, batch.story_id, changed, added))


def _dependencies(
    nodes: Mapping[NodeKey, Props], story_id: str, key: NodeKey, m: Mutation
) -> list[Edge] | None:
    """The edges a new task's links draw, when each is a dependency on a task of the load that the story owns
    (which no other entity of the load shows); None for any other link."""
    edges = []
    for link in m.links:
        target: NodeKey = (link.target_kind.value, link.target_id)
        plain = m.kind is NodeKind.TASK and link.kind is LinkKind.DEPENDS_ON and not link.incoming
        if not plain or target[0] != NodeKind.TASK.value or nodes.get(target, {}).get("story_id") != story_id:
            return None
        edges.append(Edge(key, link.kind.value, target))
    return edges


def _reshapes(before: Props, after: Props) -> bool:
    """Whether a node's new properties change more than the node: its liveness (which other entities show)
    or its owner (which the load's cacheability reads)."""
    revived_or_deleted = is_live(prop(before, "status")) != is_live(prop(after, "status"))
    return revived_or_deleted or before.get("story_id") != after.get("story_id")


def _reached(graph: PropertyGraph, story_key: NodeKey, key: NodeKey, m: Mutation) -> bool:
    """Whether the edge the commit merges from the story to the node (if any) is already in the load."""
    rel_type = STORY_EDGES.get(m.kind)
    return rel_type is None or Edge(story_key, rel_type, key) in graph.edges
