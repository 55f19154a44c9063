"""The one commit-and-announce step every write goes through: commit the batch, then announce what it changed.

A replayed commit (a retry, or a redelivered event, under the same request id) announces again what the first
commit changed, under the same event key: if the process died between the commit and the outbox record, the
retry is what publishes `context.events.updated`; if it did not, the outbox and `Nats-Msg-Id` drop the copy.
"""

from __future__ import annotations

from dataclasses import replace

from context_service.application.common import RequestMeta, publish_updated
from context_service.domain.mutations import CommitResult, WriteBatch
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.events import EventPublisher
from context_service.ports.graph import CommitLog, GraphWriter
from context_service.ports.system import Clock


class CommitStep:
    """Commits a write batch atomically and announces its changes, replay or not."""

    def __init__(
        self, *, writer: GraphWriter, log: CommitLog, publisher: EventPublisher, clock: Clock
    ) -> None:
        self._writer = writer
        self._log = log
        self._publisher = publisher
        self._clock = clock

    async def run(self, batch: WriteBatch, meta: RequestMeta) -> CommitResult:
        """Commit, then announce what the batch changed (replayed or not)."""
        at = iso_from_ms(meta.at_ms(self._clock))
        batch = replace(batch, source=batch.source or meta.source, timestamp=batch.timestamp or at)
        committed = await self._writer.commit(batch)
        await self._announce(batch.story_id, committed, meta)
        return committed

    async def replayed(self, story_id: str, meta: RequestMeta) -> CommitResult | None:
        """The earlier commit of this request (announced again), or None when the request is new."""
        if not meta.idempotency_key:
            return None
        done = await self._log.committed(story_id, meta.idempotency_key)
        if done is not None:
            await self._announce(story_id, done, meta)
        return done

    async def _announce(self, story_id: str, committed: CommitResult, meta: RequestMeta) -> None:
        if not committed.changed:
            return
        await publish_updated(
            self._publisher,
            story_id=story_id,
            version=committed.version,
            changed=committed.changed,
            event_key=committed.event_key or f"v{committed.version}",
            now_ms=self._clock.now_ms(),
            meta=meta,
        )
