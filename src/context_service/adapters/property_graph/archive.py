"""A story's whole stored subgraph out of a property graph, and written back into one (every adapter)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph, Transaction, public
from context_service.domain.model import ChangeRecord
from context_service.domain.mutations import STORY_EDGES, LinkKind, NodeKind
from context_service.domain.snapshot import NodeRef, StoredEdge, StoredNode, StorySubgraph
from context_service.ports.errors import OwnershipConflict

STORY = NodeKind.STORY.value
EPIC = NodeKind.EPIC.value
PROJECT = NodeKind.PROJECT.value
STRUCTURAL = {kind.value: rel for kind, rel in STORY_EDGES.items()}
# Edges above the story are carried as the epic and project references, not as edges.
HIERARCHY = frozenset({LinkKind.CONTAINS_STORY.value, LinkKind.HAS_EPIC.value})
SNAPSHOT_RELATIONS = frozenset(STRUCTURAL.values()) | {k.value for k in LinkKind} - HIERARCHY


def members(graph: PropertyGraph, story: NodeKey) -> list[NodeKey]:
    """The nodes hanging off the story by their structural edge, soft-deleted ones included."""
    return [
        e.dst for e in graph.out_edges(story) if STRUCTURAL.get(e.dst[0]) == e.rel_type and e.dst != story
    ]


def _parent(graph: PropertyGraph, key: NodeKey, rel_type: str, label: str) -> NodeKey | None:
    return next((e.src for e in graph.in_edges(key, rel_type) if e.src[0] == label), None)


def subgraph_of(
    graph: PropertyGraph, story_id: str, history: Iterable[ChangeRecord] = ()
) -> StorySubgraph | None:
    """The story, its nodes, the edges among them, its epic and project; None when the story is absent."""
    story: NodeKey = (STORY, story_id)
    props = graph.node(story)
    if props is None:
        return None
    inside = {story, *members(graph, story)}
    edges = [
        StoredEdge(e.rel_type, NodeRef(*e.src), NodeRef(*e.dst), public(graph.edges.get(e)))
        for key in sorted(inside)
        for e in graph.out_edges(key)
        if e.dst in inside and e.rel_type in SNAPSHOT_RELATIONS
    ]
    epic = _parent(graph, story, LinkKind.CONTAINS_STORY.value, EPIC)
    project = _parent(graph, epic, LinkKind.HAS_EPIC.value, PROJECT) if epic else None
    return StorySubgraph(
        story=public(props),
        nodes=tuple(StoredNode(k[0], public(graph.node(k))) for k in sorted(inside - {story})),
        edges=tuple(edges),
        epic=public(graph.node(epic)) if epic else None,
        project=public(graph.node(project)) if project else None,
        history=tuple(sorted(history, key=lambda r: r.seq)),
    )


def check_owners(graph: PropertyGraph, subgraph: StorySubgraph) -> None:
    """OwnershipConflict when a node id of the snapshot is taken by another story's node."""
    for node in subgraph.nodes:
        existing = graph.node((node.label, node.ref.node_id))
        if existing is not None and existing.get("story_id", subgraph.story_id) != subgraph.story_id:
            raise OwnershipConflict(node.label, node.ref.node_id, str(existing.get("story_id", "")))


def remove_story(tx: Transaction, graph: PropertyGraph, story_id: str) -> None:
    """Remove the story node, its nodes and every edge at them."""
    story: NodeKey = (STORY, story_id)
    for key in [*members(graph, story), story]:
        tx.remove_node(key)


def write_subgraph(
    tx: Transaction, graph: PropertyGraph, subgraph: StorySubgraph, hidden: Mapping[str, Any]
) -> None:
    """Nodes, edges and the references above the story as given; `hidden` bookkeeping goes on the story."""
    story: NodeKey = (STORY, subgraph.story_id)
    tx.set_node(story, {**subgraph.story, **hidden})
    for node in subgraph.nodes:
        tx.set_node((node.label, node.ref.node_id), node.properties)
    for edge in subgraph.edges:
        tx.merge_edge(
            Edge((edge.src.label, edge.src.node_id), edge.rel_type, (edge.dst.label, edge.dst.node_id)),
            edge.properties,
        )
    if subgraph.epic is not None:
        epic: NodeKey = (EPIC, str(subgraph.epic["id"]))
        if graph.node(epic) is None:
            tx.set_node(epic, subgraph.epic)
        tx.merge_edge(Edge(epic, LinkKind.CONTAINS_STORY.value, story))
        if subgraph.project is not None:
            project: NodeKey = (PROJECT, str(subgraph.project["id"]))
            if graph.node(project) is None:
                tx.set_node(project, subgraph.project)
            tx.merge_edge(Edge(project, LinkKind.HAS_EPIC.value, epic))
