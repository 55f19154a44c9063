"""NATS notifications of session changes: `context.session.<id>.changed`, one per change, via the outbox."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import structlog

from context_service.application.common import RequestMeta
from context_service.domain.session import ChangeEvent
from context_service.ports.errors import PortError
from context_service.ports.events import EventPublisher, OutboundEvent

log = structlog.get_logger()
CHANGED_EVENT = "context.session.changed"
PUBLISH_CONCURRENCY = 64


def changed_subject(session_id: str) -> str:
    """The subject a session's changes are published on."""
    return f"context.session.{session_id}.changed"


def outbound(session_id: str, event: ChangeEvent, meta: RequestMeta, *, shared: bool) -> OutboundEvent:
    """The envelope content of one change; its Nats-Msg-Id is `{session_id}:{revision}`.

    The items of one BatchPut share a revision, so each of them (`shared`) adds its key to stay distinct.
    """
    entry = event.entry
    key = f"{session_id}:{event.revision}:{event.key}" if shared else f"{session_id}:{event.revision}"
    return OutboundEvent(
        subject=changed_subject(session_id),
        event_type=CHANGED_EVENT,
        payload={
            "session_id": session_id,
            "key": event.key,
            "type": event.type.name,
            "version": entry.version if entry is not None else 0,
            "revision": event.revision,
            "source": entry.source if entry is not None else "",
            "at_ms": event.at_ms,
        },
        idempotency_key=key,
        correlation_id=meta.correlation_id or key,
        causation_id=meta.idempotency_key,
    )


class SessionNotifier:
    """Publishes each change unless the session's notifications are off; never fails the write."""

    def __init__(self, *, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def announce(
        self, session_id: str, events: Sequence[ChangeEvent], enabled: bool, meta: RequestMeta
    ) -> None:
        """Hand every change to the outbox (a failed hand-over is logged: the change is committed).

        Revisions go out in order; the items of one BatchPut (one revision) are handed over together.
        """
        if not enabled:
            return
        for revision, group in itertools.groupby(events, key=lambda event: event.revision):
            same = list(group)
            messages = [outbound(session_id, e, meta, shared=len(same) > 1) for e in same]
            if len(messages) == 1:  # the common case (a Put), without a task per message
                await self._publish(messages[0], revision)
                continue
            for start in range(0, len(messages), PUBLISH_CONCURRENCY):
                chunk = messages[start : start + PUBLISH_CONCURRENCY]
                await asyncio.gather(*(self._publish(m, revision) for m in chunk))

    async def _publish(self, message: OutboundEvent, revision: int) -> None:
        try:
            await self._publisher.publish(message)
        except PortError as exc:
            log.warning(
                "event_publish_failed", subject=message.subject, revision=revision, error=type(exc).__name__
            )
