"""Decoding what the session scripts return: entry headers, change events, session infos."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from context_service.domain.session import ChangeEvent, Entry, EventType, SessionInfo, SessionOptions

STREAM_SEQ_MAX = 18_446_744_073_709_551_615  # the largest sequence part of a stream id


def header_fields(source: str, tags: Sequence[str]) -> str:
    """The part of an entry header the scripts take verbatim: `"s":<source>,"g":[<tags>]`."""
    return json.dumps({"s": source, "g": list(tags)}, ensure_ascii=False, separators=(",", ":"))[1:-1]


def entry(key: str, header: str, value: str) -> Entry:
    """An entry from its header JSON and its value (orjson: a fifth of json's time, on every entry read)."""
    h = orjson.loads(header)
    tags = h.get("g") or []  # Lua's cjson has no empty array: [] may come back as {}
    return Entry(key, value, h["v"], h["r"], h["c"], h["u"], h["e"], h["s"], tuple(tags))


def event(raw: Sequence[Any], sent: Mapping[str, str] | None = None) -> ChangeEvent:
    """A change event from a script's {type, key, revision, header, value, prev, at}; a value left out
    of the reply is the one `sent` for its key."""
    kind, key, revision, header, value, prev, at = raw
    if not value and sent:
        value = sent.get(str(key), "")
    found = entry(str(key), str(header), str(value)) if header else None
    return ChangeEvent(EventType[str(kind)], str(key), int(revision), int(at), found, str(prev or ""))


def logged(stream_id: str, fields: dict[str, str]) -> ChangeEvent:
    """A change event from one change-log stream entry."""
    revision = int(stream_id.split("-", 1)[0])
    raw = (fields["t"], fields["k"], revision, fields["h"], fields["v"], fields["p"], fields["at"])
    return event(raw)


def stream_rows(reply: Any) -> list[Any]:
    """The (id, fields) rows of a one-stream XREAD reply (RESP2 list or RESP3 map; None on timeout)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def stream_position(revision: int) -> str:
    """The stream id after every entry of `revision` (XREAD returns what comes later)."""
    return f"{revision}-{STREAM_SEQ_MAX}"


def info(session_id: str, raw: Sequence[Any]) -> SessionInfo:
    """A session from the scripts' {revision, live, ttl, max, bytes, strict, notify, created, updated}."""
    revision, live, ttl, max_entries, max_bytes, strict, notify, created, updated = raw
    options = SessionOptions(int(ttl), int(max_entries), int(max_bytes), strict == "1", notify == "1")
    return SessionInfo(session_id, options, int(revision), int(live), int(created), int(updated))


def lua_pattern(glob: str) -> str:
    """A glob as a Lua pattern body: punctuation escaped, `*` any run, `?` marked by \\1 for the script."""
    parts = []
    for char in glob:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append("\x01")
        elif char.isascii() and not char.isalnum():
            parts.append("%" + char)
        else:
            parts.append(char)
    return "".join(parts)
