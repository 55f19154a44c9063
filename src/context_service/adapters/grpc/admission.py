"""Admission of calls: at most `limit` at once (the excess RESOURCE_EXHAUSTED, not queued), none draining.

Health and reflection are neither counted nor refused. Draining answers UNAVAILABLE (safe to retry
elsewhere) while the calls already admitted finish; the server stops only afterwards, because calls
reaching a stopping grpc server before it has matched them end CANCELLED, which clients cannot retry.
"""

from __future__ import annotations

import asyncio
import time

import grpc

SHED_MESSAGE = "the server is at its concurrency limit; retry with backoff"
DRAINING_MESSAGE = "the server is shutting down; retry on another instance"
DRAIN_POLL_SECONDS = 0.01
# Why a call is not admitted: the status and message it is aborted with.
Refusal = tuple[grpc.StatusCode, str]
DRAINING: Refusal = (grpc.StatusCode.UNAVAILABLE, DRAINING_MESSAGE)
SHED: Refusal = (grpc.StatusCode.RESOURCE_EXHAUSTED, SHED_MESSAGE)


class Admission:
    """Counts admitted calls; refuses the excess and, once draining, every new one."""

    def __init__(self, *, limit: int | None = None) -> None:
        """`limit` concurrent calls; None for no limit (draining still applies)."""
        self._limit = limit
        self._last_arrival = time.monotonic()
        self.active = 0
        self.draining = False

    def enter(self) -> Refusal | None:
        """Take a slot; or the status to abort the call with (UNAVAILABLE when draining, RESOURCE_EXHAUSTED
        when full), no slot taken."""
        # Every call runs on the one event loop thread, so this check-then-increment cannot race.
        self._last_arrival = time.monotonic()
        if self.draining:
            return DRAINING
        if self._limit is not None and self.active >= self._limit:
            return SHED
        self.active += 1
        return None

    def open_stream(self) -> Refusal | None:
        """Admit a server-streaming call (a watch): refused when draining, never counted against the limit.

        Watches stay open for hours, so they must not use up the slots of short calls; the servicer ends them
        itself at shutdown.
        """
        return DRAINING if self.draining else None

    def leave(self) -> None:
        """Give the slot back."""
        self.active -= 1

    async def drain(self, *, grace: float, quiet: float) -> bool:
        """Refuse new calls; True when admitted calls are done and arrivals quiet, False if grace ran out."""
        self.draining = True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.active == 0 and time.monotonic() - self._last_arrival >= quiet:
                return True
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        return False
