"""Typed field extraction for entity payloads: what each entity kind stores, with defaults on create."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from context_service.domain.mutations import Scalar
from context_service.domain.timefmt import ms_from_iso

Fields = dict[str, Scalar]
ORIGIN_KEYS = ("decided_by", "decision_reason", "council_feedback", "decided_at", "source")


class ChangeRejected(ValueError):
    """One change cannot be applied; the reason becomes a warning, the rest of the batch commits."""


def text(payload: Mapping[str, Any], key: str, *aliases: str, upper: bool = False) -> str | None:
    """A string field (first of key/aliases present), trimmed; None when absent."""
    for name in (key, *aliases):
        if name in payload and payload[name] is not None:
            value = payload[name]
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ChangeRejected(f"{name} must be a string")
            result = str(value).strip()
            return result.upper() if upper else result
    return None


def integer(payload: Mapping[str, Any], key: str) -> int | None:
    """An integer field; None when absent; rejected when not a whole number."""
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ChangeRejected(f"{key} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise ChangeRejected(f"{key} must be an integer") from None


def _put(fields: Fields, key: str, value: Scalar | None) -> None:
    if value is not None:
        fields[key] = value


def _require_title(fields: Fields, exists: bool) -> None:
    if not exists and not fields.get("title"):
        raise ChangeRejected("title is required to create it")


def metadata_json(raw: Any) -> str:
    """Decision metadata as a canonical JSON object of strings."""
    if not isinstance(raw, dict):
        raise ChangeRejected("metadata must be a JSON object")
    return json.dumps({str(k): str(v) for k, v in raw.items()}, sort_keys=True, ensure_ascii=False)


def decision_fields(
    payload: Mapping[str, Any], exists: bool, story_id: str, now_ms: int, now_iso: str
) -> tuple[Fields, Fields]:
    """(fields, on_create) of a decision."""
    fields: Fields = {}
    _put(fields, "title", text(payload, "title"))
    _put(fields, "rationale", text(payload, "rationale"))
    _put(fields, "status", text(payload, "status", upper=True))
    _put(fields, "decision_type", text(payload, "decision_type", "type", upper=True))
    _put(fields, "alternatives_considered", text(payload, "alternatives_considered", "alternatives"))
    _put(fields, "decided_by", text(payload, "decided_by"))
    _put(fields, "decided_at", text(payload, "decided_at"))
    if "metadata" in payload:
        fields["metadata"] = metadata_json(payload["metadata"])
    _require_title(fields, exists)
    on_create: Fields = {
        "story_id": story_id,
        "status": "PROPOSED",
        "decided_by": "UNKNOWN",
        "decided_at": now_iso,
        "created_at_ms": now_ms,
        "decision_type": "",
        "rationale": "",
        "alternatives_considered": "",
        "metadata": "{}",
    }
    return fields, on_create


def task_fields(
    payload: Mapping[str, Any],
    exists: bool,
    story_id: str,
    now_iso: str,
    normalise_role: Callable[[str], str | None],
) -> tuple[Fields, Fields]:
    """(fields, on_create) of a task; the role must be known."""
    fields: Fields = {"updated_at": now_iso}
    _put(fields, "title", text(payload, "title"))
    _put(fields, "description", text(payload, "description"))
    raw_role = text(payload, "role")
    if raw_role:
        role = normalise_role(raw_role)
        if role is None:
            raise ChangeRejected(f"unknown role '{raw_role}'")
        fields["role"] = role
    _put(fields, "status", text(payload, "status", upper=True))
    _put(fields, "priority", integer(payload, "priority"))
    _put(fields, "estimated_hours", integer(payload, "estimated_hours"))
    _put(fields, "plan_id", text(payload, "plan_id"))
    _put(fields, "type", text(payload, "type", upper=True))
    _require_title(fields, exists)
    on_create: Fields = {
        "story_id": story_id,
        "status": "PENDING",
        "created_at": now_iso,
        "description": "",
        "role": "",
        "priority": 0,
        "estimated_hours": 0,
        "plan_id": "",
        "type": "",
    }
    return fields, on_create


def task_origin(payload: Mapping[str, Any]) -> Fields | None:
    """The 'why this task exists' metadata of a task, when the payload carries any."""
    origin: Fields = {}
    for key in ORIGIN_KEYS:
        _put(origin, key, text(payload, key))
    return origin or None


def milestone_fields(
    payload: Mapping[str, Any], exists: bool, story_id: str, now_ms: int
) -> tuple[Fields, Fields]:
    """(fields, on_create) of a milestone event."""
    fields: Fields = {}
    _put(fields, "event_type", text(payload, "event_type", "type"))
    _put(fields, "description", text(payload, "description"))
    _put(fields, "actor", text(payload, "actor"))
    ts_ms = integer(payload, "ts_ms")
    stamp = text(payload, "timestamp")
    if ts_ms is None and stamp:
        ts_ms = ms_from_iso(stamp)
        if ts_ms is None:
            raise ChangeRejected("timestamp must be ISO-8601")
    _put(fields, "ts_ms", ts_ms)
    on_create: Fields = {
        "story_id": story_id,
        "event_type": "milestone",
        "description": "",
        "actor": "",
        "ts_ms": now_ms,
        "status": "",
    }
    return fields, on_create


def story_fields(payload: Mapping[str, Any], now_iso: str) -> Fields:
    """Fields of the story a CASE change may set."""
    fields: Fields = {"updated_at": now_iso}
    _put(fields, "title", text(payload, "title"))
    _put(fields, "description", text(payload, "description"))
    _put(fields, "status", text(payload, "status", upper=True))
    if fields.get("title") == "":
        raise ChangeRejected("title cannot be blank")
    return fields


def plan_fields(
    payload: Mapping[str, Any], exists: bool, story_id: str, now_ms: int
) -> tuple[Fields, Fields]:
    """(fields, on_create) of a plan version."""
    fields: Fields = {}
    _put(fields, "version", integer(payload, "version"))
    _put(fields, "status", text(payload, "status", upper=True))
    _put(fields, "rationale", text(payload, "rationale"))
    _put(fields, "author_id", text(payload, "author_id", "author"))
    on_create: Fields = {
        "story_id": story_id,
        "version": 1,
        "status": "DRAFT",
        "rationale": "",
        "author_id": "",
        "created_at_ms": now_ms,
    }
    return fields, on_create
