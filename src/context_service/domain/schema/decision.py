"""Decision: a story's decision, the tasks it influences and its relations to other decisions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from context_service.domain.model import Decision
from context_service.domain.schema.fields import ChangeRejected, decode, prop, put, require_title, text
from context_service.domain.schema.labels import Fields, Label, Link, LinkKind, NodeKind
from context_service.domain.timefmt import iso_from_ms

LABEL = Label(NodeKind.DECISION, story_edge="HAS_DECISION")
# (Decision)-[r]->(Decision) relations a change may set.
RELATIONS = frozenset({LinkKind.DEPENDS_ON, LinkKind.SUPERSEDES, LinkKind.GOVERNS, LinkKind.RELATES_TO})
DEFAULT_STATUS, DEFAULT_DECIDED_BY, ACCEPTED = "PROPOSED", "UNKNOWN", "ACCEPTED"
READ_AS = {"decision_id": "id"}
READ_DEFAULTS = {"status": DEFAULT_STATUS, "decided_by": DEFAULT_DECIDED_BY}


def new_id(decision_type: str, hex6: str) -> str:
    """DEC-{TYPE[:4]}-{6 HEX}; an untyped decision uses GEN."""
    prefix = "".join(ch for ch in decision_type.upper() if ch.isalnum())[:4] or "GEN"
    return f"DEC-{prefix}-{hex6}"


def on_create(story_id: str, at_ms: int) -> Fields:
    """A new decision's defaults."""
    return {
        "story_id": story_id,
        "status": DEFAULT_STATUS,
        "decided_by": DEFAULT_DECIDED_BY,
        "decided_at": iso_from_ms(at_ms),
        "created_at_ms": at_ms,
        "decision_type": "",
        "rationale": "",
        "alternatives_considered": "",
        "metadata": "{}",
    }


def metadata_json(raw: Any) -> str:
    """Decision metadata as a canonical JSON object of strings."""
    if not isinstance(raw, dict):
        raise ChangeRejected("metadata must be a JSON object")
    return json.dumps({str(k): str(v) for k, v in raw.items()}, sort_keys=True, ensure_ascii=False)


def from_payload(payload: Mapping[str, Any], exists: bool) -> Fields:
    """What a change sets on the decision."""
    fields: Fields = {}
    put(fields, "title", text(payload, "title"))
    put(fields, "rationale", text(payload, "rationale"))
    put(fields, "status", text(payload, "status", upper=True))
    put(fields, "decision_type", text(payload, "decision_type", "type", upper=True))
    put(fields, "alternatives_considered", text(payload, "alternatives_considered", "alternatives"))
    put(fields, "decided_by", text(payload, "decided_by"))
    put(fields, "decided_at", text(payload, "decided_at"))
    if "metadata" in payload:
        fields["metadata"] = metadata_json(payload["metadata"])
    require_title(fields, exists)
    return fields


def influenced_by(task_ids: Iterable[str]) -> tuple[Link, ...]:
    """(Task)-[:INFLUENCED_BY]->(Decision) from each task."""
    return tuple(Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, t, incoming=True) for t in task_ids)


def read(p: Mapping[str, Any], influences: tuple[str, ...]) -> Decision:
    """The decision from its stored properties and the live tasks it influences."""
    metadata: Any = json.loads(prop(p, "metadata", "{}") or "{}")
    metadata = {str(k): str(v) for k, v in metadata.items()}
    return decode(
        Decision, p, renamed=READ_AS, defaults=READ_DEFAULTS, metadata=metadata, influences=influences
    )
