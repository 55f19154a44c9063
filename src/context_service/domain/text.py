"""What text the service accepts, decided once for every RPC field and NATS payload (defect: NUL → INTERNAL).

Free text (titles, descriptions, rationales, metadata keys and values, change payloads) may hold any Unicode
scalar value except NUL and the other C0 controls bar tab, line feed and carriage return: FalkorDB's client
inlines parameters into the query text, where a NUL ends the query, and lone surrogates (reachable through
JSON `\\ud800` escapes) cannot be encoded as UTF-8 for any store. Ids are stricter: no control characters at
all (C0, DEL, C1), since they end up in keys, subjects, log lines and query parameters. Everything else,
quotes, backslashes, Cypher fragments and `../` included, is carried as data: every backend binds it as a
parameter, never as query or path syntax. A rejected value is INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from context_service.domain.errors import InvalidArgument

_TEXT_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_ID_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_text(value: str) -> bool:
    """Whether `value` passes `check_text` (a check that names no field until one fails).

    A printable string (most ids, keys and names) holds no control character or surrogate: str.isprintable
    answers that without the pattern.
    """
    return value.isprintable() or _TEXT_FORBIDDEN.search(value) is None


def check_text(value: str, field_name: str) -> str:
    """`value` unchanged, or INVALID_ARGUMENT naming the field when it holds a character no store can keep."""
    found = _TEXT_FORBIDDEN.search(value)
    if found is not None:
        raise InvalidArgument(_message(field_name, found.group()), field=field_name)
    return value


def check_id(value: str, field_name: str) -> str:
    """`value` unchanged, or INVALID_ARGUMENT naming the field when it holds a control or surrogate."""
    found = _ID_FORBIDDEN.search(value)
    if found is not None:
        raise InvalidArgument(_message(field_name, found.group()), field=field_name)
    return value


def check_document(value: Any, path: str) -> None:
    """Check every string key and value of a decoded JSON document (or a message) as free text."""
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(str(key), f"a key of {path or 'the document'}")
            check_document(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_document(item, f"{path}[{index}]")


def check_decoded(text: str, document: Any, path: str) -> None:
    """`check_document` for what strict `json.loads` decoded from `text`, without the walk when the text
    shows none is needed: such JSON holds raw controls only as whitespace between tokens, so a refused
    character in a decoded string stands in the text itself (a lone surrogate) or behind a `\\u` escape."""
    if "\\u" in text or _TEXT_FORBIDDEN.search(text) is not None:
        check_document(document, path)


def _message(field_name: str, char: str) -> str:
    return f"{field_name} contains a character that is not accepted (U+{ord(char):04X})"
