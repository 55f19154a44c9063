"""System adapters: wall clock and random ids."""

from __future__ import annotations

import secrets
import time


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        return time.time_ns() // 1_000_000


class RandomIds:
    """Cryptographically random hex ids."""

    def hex(self, length: int) -> str:
        """`length` upper-case hex characters."""
        return secrets.token_hex((length + 1) // 2)[:length].upper()
