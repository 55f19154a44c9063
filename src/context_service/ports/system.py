"""Clock, id and token-counting ports."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Wall-clock time."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""
        ...


class IdGenerator(Protocol):
    """Random identifiers."""

    def hex(self, length: int) -> str:
        """`length` upper-case hexadecimal characters."""
        ...


class TokenCounter(Protocol):
    """Counts prompt tokens with one named vocabulary."""

    @property
    def name(self) -> str:
        """The vocabulary name (e.g. cl100k_base), or the estimate's name."""
        ...

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        ...
