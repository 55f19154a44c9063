"""Deterministic fakes of the clock and id ports."""

from __future__ import annotations

import itertools


class FixedClock:
    """A clock that only moves when told to (or by `step_ms` on each reading)."""

    def __init__(self, start_ms: int = 1_793_534_400_000, step_ms: int = 0) -> None:
        self.current = start_ms
        self.step_ms = step_ms

    def now_ms(self) -> int:
        """The current reading, then advance by `step_ms`."""
        value = self.current
        self.current += self.step_ms
        return value

    def advance(self, ms: int) -> None:
        """Move the clock forward."""
        self.current += ms


class SequentialIds:
    """Hex ids 000001, 000002, ... so generated ids are predictable."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def hex(self, length: int) -> str:
        """The next id, zero-padded to `length` hex digits."""
        return format(next(self._counter), "X").zfill(length)[-length:]
