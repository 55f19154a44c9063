"""What a snapshot must satisfy beyond its schema before anything is written: ids and references."""

from __future__ import annotations

import re

from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import MAX_ID_LENGTH
from context_service.domain.mutations import STORY_EDGES, NodeKind
from context_service.domain.snapshot import (
    SECTIONS,
    NodeRef,
    ReadModelEntry,
    StorySnapshot,
    StorySubgraph,
    read_model_prefix,
)
from context_service.domain.text import check_id

FIELD = "document_json"
STORY = NodeKind.STORY.value
_STRUCTURAL = {kind.value: rel for kind, rel in STORY_EDGES.items()}
_STREAM_ID = re.compile(r"^(\d+)-(\d+)$")


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"{FIELD}: {message}", field=FIELD)


def check_snapshot(snapshot: StorySnapshot) -> None:
    """INVALID_ARGUMENT naming the first problem: the story id, node ids, edges, history, read-models."""
    graph = snapshot.subgraph
    story_id = _check_id(graph.story.get("id"), "story.id")
    known = _check_nodes(graph, story_id)
    _check_edges(graph, story_id, known)
    _check_parents(graph)
    _check_history(graph)
    _check_read_models(snapshot.read_models, story_id)


def _check_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise _invalid(f"{where} must be a non-blank id without surrounding spaces")
    if len(value) > MAX_ID_LENGTH:
        raise _invalid(f"{where} exceeds {MAX_ID_LENGTH} characters")
    return check_id(value, f"{FIELD}: {where}")


def _check_nodes(graph: StorySubgraph, story_id: str) -> set[NodeRef]:
    known = {NodeRef(STORY, story_id)}
    counters: dict[str, int] = {}
    for node in graph.nodes:
        index = counters[node.label] = counters.get(node.label, -1) + 1
        where = f"{SECTIONS[node.label]}[{index}]"
        node_id = _check_id(node.properties.get("id"), f"{where}.id")
        owner = node.properties.get("story_id", story_id)
        if owner != story_id:
            raise _invalid(f"{where} '{node_id}' has story_id '{owner}', foreign to story '{story_id}'")
        if node.ref in known:
            raise _invalid(f"{where} repeats id '{node_id}'")
        known.add(node.ref)
    return known


def _check_edges(graph: StorySubgraph, story_id: str, known: set[NodeRef]) -> None:
    seen = set()
    for i, edge in enumerate(graph.edges):
        for end, ref in (("from", edge.src), ("to", edge.dst)):
            if ref not in known:
                raise _invalid(
                    f"edges[{i}].{end} is {ref.label} '{ref.node_id}', which the document does not contain"
                )
        if edge.key in seen:
            raise _invalid(f"edges[{i}] repeats a {edge.rel_type} edge")
        seen.add(edge.key)
        if edge.dst == NodeRef(STORY, story_id):
            raise _invalid(f"edges[{i}] points at the story; only the epic reference may")


def _check_parents(graph: StorySubgraph) -> None:
    """Every node hangs off the story by its structural edge (else an import would orphan it)."""
    attached = {e.dst for e in graph.edges if e.src.label == STORY and e.rel_type == _STRUCTURAL[e.dst.label]}
    for node in graph.nodes:
        if node.ref not in attached:
            rel = _STRUCTURAL[node.label]
            raise _invalid(f"{node.label} '{node.ref.node_id}' has no {rel} edge from the story")


def _check_history(graph: StorySubgraph) -> None:
    last = 0
    for i, record in enumerate(graph.history):
        if record.seq <= last:
            raise _invalid(f"history[{i}].seq {record.seq} does not follow {last}: seqs increase strictly")
        last = record.seq


def _check_read_models(entries: tuple[ReadModelEntry, ...], story_id: str) -> None:
    prefix = read_model_prefix(story_id)
    keys: set[str] = set()
    for i, entry in enumerate(entries):
        if not entry.key.startswith(prefix) or entry.key == prefix:
            raise _invalid(f"read_models[{i}].key '{entry.key}' is not under '{prefix}'")
        if entry.key in keys:
            raise _invalid(f"read_models[{i}] repeats key '{entry.key}'")
        keys.add(entry.key)
        last = (0, 0)
        for j, stream_entry in enumerate(entry.entries):
            match = _STREAM_ID.match(stream_entry.entry_id)
            position = (int(match[1]), int(match[2])) if match else (0, 0)
            if position <= last:
                raise _invalid(f"read_models[{i}].entries[{j}].id must increase (ms-seq, above 0-0)")
            last = position
