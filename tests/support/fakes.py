"""Deterministic fakes of the clock and id ports, and of the call a grpc.aio servicer is given."""

from __future__ import annotations

import itertools

import grpc


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


class ServicerCall:
    """The parts of a grpc.aio servicer context the servicer wrappers and handlers read: an open call with
    `metadata`, no deadline and no status set; the trailers set and the status aborted with are kept."""

    def __init__(self, *metadata: tuple[str, str | bytes]) -> None:
        self._metadata = metadata
        self.trailers: tuple[tuple[str, str], ...] = ()
        self.status: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def time_remaining(self) -> None:
        return None

    def code(self) -> None:
        return None

    def done(self) -> bool:
        return False

    def set_trailing_metadata(self, trailers: tuple[tuple[str, str], ...]) -> None:
        self.trailers = trailers

    async def abort(self, code: grpc.StatusCode, message: str) -> None:
        self.status = (code, message)
        raise grpc.aio.AbortError(message)
