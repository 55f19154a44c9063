"""Paging a story's change history: page sizes and opaque page tokens (the last seq a page returned)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from context_service.domain.errors import InvalidArgument
from context_service.domain.model import ChangeRecord

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_RETENTION = 10_000
_TOKEN_PREFIX = "seq:"


@dataclass(frozen=True)
class HistoryPage:
    """One page of records, newest first, and the token of the next page ("" on the last one)."""

    records: tuple[ChangeRecord, ...]
    next_page_token: str = ""


def page_size(requested: int) -> int:
    """0 means the default; negative or over the maximum is INVALID_ARGUMENT."""
    if requested < 0 or requested > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be between 0 and {MAX_PAGE_SIZE}", field="page_size")
    return requested or DEFAULT_PAGE_SIZE


def encode_page_token(seq: int) -> str:
    """The token that resumes below `seq`: records arriving later have higher seqs, so it stays valid."""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The seq a token resumes below (0 for no token); INVALID_ARGUMENT for anything else."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    digits = text.removeprefix(_TOKEN_PREFIX)
    if not text.startswith(_TOKEN_PREFIX) or not digits.isdigit() or int(digits) <= 0:
        raise InvalidArgument("page_token is not a token this service issued", field="page_token")
    return int(digits)


def page_of(records: list[ChangeRecord], size: int) -> HistoryPage:
    """A page from up to `size + 1` records read newest first (the extra one only proves there is more)."""
    shown = tuple(records[:size])
    more = len(records) > size and bool(shown)
    return HistoryPage(shown, encode_page_token(shown[-1].seq) if more else "")
