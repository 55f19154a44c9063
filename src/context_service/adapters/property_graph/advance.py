"""A story's load carried over a commit that only sets properties of nodes the load already holds.

A Cypher store that has just written a story answers its next read of that story from the load it made
before the write, advanced by the batch, instead of loading the story again. Only plain batches are carried:
every node they write is the story or a node of the load (reached by the story's edge of its kind, where the
kind has one), and they draw or remove no edge. Then the load after the commit is the load before it with
those nodes' properties merged, as the engine stores them (`SET n +=`); a node given another `story_id` stays
in the load through the story's edge, with its new properties.
Any other batch gives None, and the store loads the story again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph, public
from context_service.domain.mutations import STORY_EDGES, Mutation, NodeKind, WriteBatch

STORY = NodeKind.STORY.value


def advanced(graph: PropertyGraph, batch: WriteBatch, story: Mapping[str, Any]) -> PropertyGraph | None:
    """The story's load after `batch` (`story`: the story node's properties after it), or None when the
    batch is not plain. `graph` is left as it is; the result shares its edges."""
    story_key: NodeKey = (STORY, batch.story_id)
    nodes = dict(graph.nodes)
    for m in batch.mutations:
        key: NodeKey = (m.kind.value, m.node_id)
        if m.links or m.replace_links or m.plan_edge is not None:
            return None
        if key == story_key:
            continue  # its properties after the commit are `story`
        before = nodes.get(key)
        if before is None or not _reached(graph, story_key, key, m):
            return None
        nodes[key] = {**before, **public(m.fields)}
    nodes[story_key] = dict(story)
    return graph.with_nodes(nodes)


def _reached(graph: PropertyGraph, story_key: NodeKey, key: NodeKey, m: Mutation) -> bool:
    """Whether the edge the commit merges from the story to the node (if any) is already in the load."""
    rel_type = STORY_EDGES.get(m.kind)
    return rel_type is None or Edge(story_key, rel_type, key) in graph.edges
