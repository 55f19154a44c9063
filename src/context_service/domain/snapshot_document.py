"""The snapshot as one canonical JSON document, and the checks a document must pass before an import.

Canonical: keys sorted, no insignificant whitespace, every list in a fixed order (nodes by id, edges by
type and ends, history by seq, read-models by key), so equal stories export equal bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from context_service.domain.model import ChangeRecord
from context_service.domain.snapshot import (
    SECTIONS,
    NodeRef,
    ReadModelEntry,
    StoredEdge,
    StoredNode,
    StorySnapshot,
    StorySubgraph,
    StreamEntry,
    change_fields,
)

FORMAT_NAME = "fleet.context.story-snapshot"
FORMAT_VERSION = 1
Document = dict[str, Any]
# Upgrades of older documents to the current shape, by the version they read (none yet: 1 is the first).
UPGRADES: dict[int, Callable[[Document], Document]] = {}


def canonical_json(document: Mapping[str, Any]) -> str:
    """The canonical text of a document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def readable_versions() -> list[int]:
    """The format versions an import accepts."""
    return sorted({FORMAT_VERSION, *UPGRADES})


def upgraded(document: Document) -> Document:
    """A document of an older readable version rewritten to the current one (the current one unchanged)."""
    version = document.get("format_version")
    while version != FORMAT_VERSION and isinstance(version, int) and version in UPGRADES:
        document = UPGRADES[version](document)
        version = document.get("format_version")
    return document


def _ref(ref: NodeRef) -> Document:
    return {"label": ref.label, "id": ref.node_id}


def _edge(edge: StoredEdge) -> Document:
    return {
        "type": edge.rel_type,
        "from": _ref(edge.src),
        "to": _ref(edge.dst),
        "properties": dict(edge.properties),
    }


def _entry(entry: ReadModelEntry) -> Document:
    found: Document = {"key": entry.key, "type": entry.kind, "expire_at_ms": entry.expire_at_ms}
    if entry.kind == "stream":
        found["entries"] = [{"id": e.entry_id, "fields": [list(f) for f in e.fields]} for e in entry.entries]
    else:
        found["value"] = entry.value
    return found


def to_document(snapshot: StorySnapshot) -> Document:
    """The document of a snapshot, every list in its canonical order."""
    graph = snapshot.subgraph
    document: Document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "story_id": graph.story_id,
        "story": dict(graph.story),
        "epic": None if graph.epic is None else dict(graph.epic),
        "project": None if graph.project is None else dict(graph.project),
        "edges": [_edge(e) for e in sorted(graph.edges, key=lambda e: e.key)],
        "history": [change_fields(r) for r in sorted(graph.history, key=lambda r: r.seq)],
        "read_models": [_entry(e) for e in sorted(snapshot.read_models, key=lambda e: e.key)],
    }
    for label, section in SECTIONS.items():
        nodes = [dict(n.properties) for n in graph.nodes if n.label == label]
        document[section] = sorted(nodes, key=lambda props: str(props["id"]))
    return document


def _node_ref(raw: Mapping[str, Any]) -> NodeRef:
    return NodeRef(str(raw["label"]), str(raw["id"]))


def _read_model(raw: Mapping[str, Any]) -> ReadModelEntry:
    entries = tuple(
        StreamEntry(str(e["id"]), tuple((str(k), str(v)) for k, v in e["fields"]))
        for e in raw.get("entries", ())
    )
    return ReadModelEntry(
        key=str(raw["key"]),
        kind=str(raw["type"]),
        value=str(raw.get("value", "")),
        entries=entries,
        expire_at_ms=int(raw["expire_at_ms"]),
    )


def from_document(document: Mapping[str, Any]) -> StorySnapshot:
    """The snapshot a schema-valid, current-version document describes (references not checked yet)."""
    nodes = tuple(
        StoredNode(label, dict(props)) for label, section in SECTIONS.items() for props in document[section]
    )
    edges = tuple(
        StoredEdge(str(e["type"]), _node_ref(e["from"]), _node_ref(e["to"]), dict(e["properties"]))
        for e in document["edges"]
    )
    subgraph = StorySubgraph(
        story=dict(document["story"]),
        nodes=nodes,
        edges=edges,
        epic=None if document["epic"] is None else dict(document["epic"]),
        project=None if document["project"] is None else dict(document["project"]),
        history=tuple(ChangeRecord(**record) for record in document["history"]),
    )
    return StorySnapshot(subgraph, tuple(_read_model(raw) for raw in document["read_models"]))
