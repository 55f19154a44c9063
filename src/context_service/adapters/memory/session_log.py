"""The in-memory change log of one session: bounded by revisions, with an asyncio wake-up per append."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

from context_service.domain.session import ChangeEvent
from context_service.ports.errors import ChangesTrimmed


@dataclass
class ChangeLog:
    """Changes in revision order; keeps the last `retention` revisions; outlives a drop as a tombstone."""

    retention: int
    revision: int = 0
    events: deque[ChangeEvent] = field(default_factory=deque)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    dropped_at_ms: int | None = None

    def append(self, event: ChangeEvent) -> None:
        """Log one change and wake every waiter."""
        self.events.append(event)
        # Whole revisions are retained, like XADD MINID on Valkey: a batch is never cut in half.
        while self.events[0].revision <= event.revision - self.retention:
            self.events.popleft()
        self.changed.set()
        self.changed = asyncio.Event()

    async def after(self, revision: int, limit: int, wait_seconds: float) -> list[ChangeEvent]:
        """Changes after `revision`, waiting up to `wait_seconds` for one; ChangesTrimmed on a gap."""
        if self.revision <= revision and wait_seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self.changed.wait()
        found = [e for e in self.events if e.revision > revision][:limit]
        if found and found[0].revision != revision + 1:
            raise ChangesTrimmed(oldest=self.events[0].revision)
        return found
