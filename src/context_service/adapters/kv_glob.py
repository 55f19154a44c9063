"""Glob listing shared by the key-value adapters: fnmatch semantics everywhere, as in the in-memory store.

A backend narrows the search by the pattern's literal prefix (an index range, a SCAN MATCH), then the
exact match runs here, so every adapter answers the same pattern with the same keys.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

_WILDCARDS = "*?["


def literal_prefix(pattern: str) -> str:
    """The part of `pattern` before its first wildcard: every matching key starts with it."""
    for index, char in enumerate(pattern):
        if char in _WILDCARDS:
            return pattern[:index]
    return pattern


def matching(keys: Iterable[str], pattern: str) -> list[str]:
    """The keys that match the glob (case-sensitive, no escapes), sorted and without duplicates."""
    return sorted({key for key in keys if fnmatch.fnmatchcase(key, pattern)})


def glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)
