"""What the conformance tests observe: the graph ports together, and snapshots of everything readable."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.domain.model import ChangeRecord, GraphLink, Neighbourhood, StoryGraph
from context_service.domain.mutations import NodeKind
from context_service.ports.graph import GraphStore

WHOLE = 10_000  # a neighbour limit no test graph reaches


@dataclass(frozen=True)
class Snapshot:
    """Everything the read ports show about some stories and extra nodes."""

    graphs: tuple[StoryGraph | None, ...]
    neighbourhoods: tuple[Neighbourhood | None, ...]
    histories: tuple[tuple[ChangeRecord, ...], ...]


async def snapshot(graph: GraphStore, *story_ids: str, extra: tuple[tuple[str, str], ...] = ()) -> Snapshot:
    """Story graphs, whole 3-hop neighbourhoods (every property and edge) and histories."""
    nodes = [(NodeKind.STORY.value, s) for s in story_ids] + list(extra)
    return Snapshot(
        graphs=tuple([await graph.load_story_graph(s) for s in story_ids]),
        neighbourhoods=tuple([await graph.neighbourhood(label, i, 3, WHOLE) for label, i in nodes]),
        histories=tuple([tuple(await graph.history(s)) for s in story_ids]),
    )


async def loaded(graph: GraphStore, story_id: str) -> StoryGraph:
    """The story graph, which the test expects to exist."""
    found = await graph.load_story_graph(story_id)
    assert found is not None, f"story {story_id} not found"
    return found


async def around(graph: GraphStore, label: str, node_id: str, depth: int = 1) -> Neighbourhood:
    """The node's whole neighbourhood, which the test expects to exist."""
    found = await graph.neighbourhood(label, node_id, depth, WHOLE)
    assert found is not None, f"{label} {node_id} not found"
    return found


def ids(found: Neighbourhood) -> list[tuple[str, str]]:
    """(label, id) of each neighbour, in the order returned."""
    return [(n.label, n.node_id) for n in found.neighbours]


def edges(found: Neighbourhood) -> list[tuple[str, str, str]]:
    """(source id, type, target id) of each link, in the order returned."""
    return [(link.src_id, link.rel_type, link.dst_id) for link in found.links]


def edges_of(found: Neighbourhood, rel_type: str) -> list[GraphLink]:
    """The links of one type, with their properties."""
    return [link for link in found.links if link.rel_type == rel_type]
