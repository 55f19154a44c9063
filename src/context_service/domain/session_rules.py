"""Input rules of the session context: every bad field is INVALID_ARGUMENT naming it, before any write."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import replace

from context_service.domain.errors import InvalidArgument
from context_service.domain.session import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PutItem,
    SessionOptions,
)
from context_service.domain.text import check_id

MAX_KEY_LENGTH = 512
MAX_ID_LENGTH = 256
MAX_TAGS = 32
MAX_SOURCE_LENGTH = 256
MAX_BATCH_ITEMS = 1_000
MAX_TTL_MS = 10 * 365 * 24 * 3_600_000  # ten years: keeps every timestamp an exact integer everywhere
# A session id is one token of a NATS subject (context.session.<id>.changed).
_SUBJECT_UNSAFE = re.compile(r"[\s.*>]")


def _text(value: str, name: str, *, limit: int, required: bool = True) -> str:
    if required and not value:
        raise InvalidArgument(f"{name} is required", field=name)
    if len(value) > limit:
        raise InvalidArgument(f"{name} is longer than {limit} characters", field=name)
    return check_id(value, name)  # the one text rule for ids: no control character, no lone surrogate


def session_id(value: str, name: str = "session_id") -> str:
    """A non-empty session id without control characters, whitespace, '.', '*' or '>'."""
    _text(value, name, limit=MAX_ID_LENGTH)
    if _SUBJECT_UNSAFE.search(value):
        raise InvalidArgument(f"{name} must not contain whitespace, '.', '*' or '>'", field=name)
    return value


def entry_key(value: str, name: str = "key") -> str:
    """A non-empty key of at most 512 characters without control characters."""
    return _text(value, name, limit=MAX_KEY_LENGTH)


def json_text(value: str, name: str = "value_json") -> str:
    """Any JSON value, as text."""
    if not value.strip():
        raise InvalidArgument(f"{name} is required (any JSON value)", field=name)
    try:
        json.loads(value)
    except ValueError:
        raise InvalidArgument(f"{name} is not valid JSON", field=name) from None
    return value


def ttl(value: int | None, name: str = "ttl_ms") -> int | None:
    """Unset, 0 (never) or a positive number of milliseconds up to ten years."""
    if value is not None and not 0 <= value <= MAX_TTL_MS:
        raise InvalidArgument(f"{name} must be between 0 and {MAX_TTL_MS}", field=name)
    return value


def not_negative(value: int | None, name: str) -> int | None:
    """Unset or at least 0 (a version or a revision)."""
    if value is not None and value < 0:
        raise InvalidArgument(f"{name} must not be negative", field=name)
    return value


def put_item(item: PutItem, prefix: str = "") -> PutItem:
    """One write checked field by field (`prefix` names its place in a batch, e.g. 'items[3].')."""
    entry_key(item.key, prefix + "key")
    json_text(item.value_json, prefix + "value_json")
    ttl(item.ttl_ms, prefix + "ttl_ms")
    _text(item.source, prefix + "source", limit=MAX_SOURCE_LENGTH, required=False)
    if len(item.tags) > MAX_TAGS:
        raise InvalidArgument(f"{prefix}tags: at most {MAX_TAGS} tags", field=prefix + "tags")
    for tag in item.tags:
        _text(tag, prefix + "tags", limit=MAX_KEY_LENGTH)
    not_negative(item.expected_version, prefix + "expected_version")
    return replace(item, tags=tuple(dict.fromkeys(item.tags)))


def batch(items: Sequence[PutItem]) -> tuple[PutItem, ...]:
    """1 to 1,000 items with distinct keys, each valid."""
    if not items:
        raise InvalidArgument("items: at least one item is required", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidArgument(f"items: at most {MAX_BATCH_ITEMS} items", field="items")
    seen: set[str] = set()
    checked = []
    for index, item in enumerate(items):
        checked.append(put_item(item, f"items[{index}]."))
        if item.key in seen:
            name = f"items[{index}].key"
            raise InvalidArgument(f"{name}: duplicate key '{item.key}'", field=name)
        seen.add(item.key)
    return tuple(checked)


def options(value: SessionOptions) -> SessionOptions:
    """Options within bounds."""
    ttl(value.default_ttl_ms, "options.default_ttl_ms")
    for name, number in (
        ("options.max_entries", value.max_entries),
        ("options.max_entry_bytes", value.max_entry_bytes),
    ):
        if number <= 0:
            raise InvalidArgument(f"{name} must be positive", field=name)
    return value


def pattern(value: str, name: str = "pattern") -> str:
    """A glob (`*`, `?`) over keys; empty = every key."""
    return _text(value, name, limit=MAX_KEY_LENGTH, required=False)


def glob_regex(glob: str) -> re.Pattern[str]:
    """`*` any run of characters, `?` exactly one; everything else literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob or "*")
    return re.compile("".join(parts), re.DOTALL)


def literal_prefix(glob: str) -> str:
    """The part of a glob before its first wildcard."""
    cut = [i for i in (glob.find("*"), glob.find("?")) if i >= 0]
    return glob[: min(cut)] if cut else glob


def page_size(value: int, name: str = "page_size") -> int:
    """0 = 100; at most 1,000."""
    if value < 0 or value > MAX_PAGE_SIZE:
        raise InvalidArgument(f"{name} must be between 0 and {MAX_PAGE_SIZE}", field=name)
    return value or DEFAULT_PAGE_SIZE


def encode_token(last: str) -> str:
    """An opaque page token naming the last item returned."""
    return base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii") if last else ""


def decode_token(token: str, name: str = "page_token") -> str:
    """The last item a page token names ('' for the first page)."""
    if not token:
        return ""
    try:
        last = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
        if not last:
            raise ValueError(name)
        return last
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgument(f"{name} is not a token this service issued", field=name) from None
