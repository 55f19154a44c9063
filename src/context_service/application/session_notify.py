"""NATS notifications of session changes: `context.session.<id>.changed`, one per change, via the outbox.

Where the session store can, a change writes its outbox record itself, in the same atomic step (a
`ChangeNotice`): the record names the revisions written, and the relay re-reads them from the session's change
log. Then no notification is lost even when the process goes between the change and its hand-over. Elsewhere
(the in-memory store, an outbox on another store) each change is handed to the outbox after the write.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from context_service.application.common import RequestMeta
from context_service.domain.session import ChangeEvent
from context_service.domain.session_rules import MAX_BATCH_ITEMS
from context_service.ports.errors import ChangesTrimmed, PortError
from context_service.ports.events import EventPublisher, OutboundEvent
from context_service.ports.kv import session_scope
from context_service.ports.session import NOTICE_KIND, ChangeNotice, SessionStore

log = structlog.get_logger()
CHANGED_EVENT = "context.session.changed"
PUBLISH_CONCURRENCY = 64
# Change-log entries read per call when relaying a record: more than one revision can hold (a BatchPut of
# the most items allowed), so a full read always ends with whole revisions once its last one is set aside.
LOG_READ = 2 * MAX_BATCH_ITEMS


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


def _outbound_groups(
    session_id: str, events: Sequence[ChangeEvent], meta: RequestMeta
) -> list[tuple[int, list[OutboundEvent]]]:
    """Each revision's notifications, in revision order (the items of one BatchPut share a revision)."""
    groups = []
    for revision, group in itertools.groupby(events, key=lambda event: event.revision):
        same = list(group)
        groups.append((revision, [outbound(session_id, e, meta, shared=len(same) > 1) for e in same]))
    return groups


def _notifications(session_id: str, events: Sequence[ChangeEvent], meta: RequestMeta) -> list[OutboundEvent]:
    """Every change's notification, in revision order."""
    return [m for _, group in _outbound_groups(session_id, events, meta) for m in group]


class SessionNotifier:
    """Publishes each change unless the session's notifications are off; never fails the write."""

    def __init__(self, *, publisher: EventPublisher, store: SessionStore) -> None:
        self._publisher = publisher
        self._store = store
        publisher.read_records(NOTICE_KIND, self.recorded)

    def notice(self, session_id: str, meta: RequestMeta) -> ChangeNotice | None:
        """The outbox record a change of the session should write with itself (None: no shared outbox)."""
        slot = self._publisher.reserve_record(session_scope(session_id))
        if slot is None:
            return None
        return ChangeNotice(slot, session_id, meta.correlation_id, meta.idempotency_key)

    async def announce(
        self,
        session_id: str,
        events: Sequence[ChangeEvent],
        enabled: bool,
        meta: RequestMeta,
        notice_key: str = "",
    ) -> None:
        """Hand every change to the outbox (a failed hand-over is logged: the change is committed).

        Revisions go out in order; the items of one BatchPut (one revision) are handed over together. When
        the store wrote the outbox record with the change (`notice_key`), the messages are only sent.
        """
        if not enabled:
            return
        if notice_key:
            await self._publisher.publish_recorded(notice_key, _notifications(session_id, events, meta))
            return
        for revision, messages in _outbound_groups(session_id, events, meta):
            if len(messages) == 1:  # the common case (a Put), without a task per message
                await self._publish(messages[0], revision)
                continue
            for start in range(0, len(messages), PUBLISH_CONCURRENCY):
                chunk = messages[start : start + PUBLISH_CONCURRENCY]
                await asyncio.gather(*(self._publish(m, revision) for m in chunk))

    async def recorded(self, record: Mapping[str, Any]) -> list[OutboundEvent]:
        """The notifications an outbox record written by the store stands for, read from the change log.

        Revisions the log no longer holds (trimmed, or the session dropped long ago) are logged as lost.
        """
        try:
            session_id = str(record["session_id"])
            first, last = int(record["from"]), int(record["to"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("session notice record without its session or revisions") from exc
        meta = RequestMeta(
            correlation_id=str(record.get("correlation_id") or ""),
            idempotency_key=str(record.get("causation_id") or ""),
        )
        events: list[ChangeEvent] = []
        after = first - 1
        while after < last:
            try:
                read = await self._store.changes(session_id, after, LOG_READ, 0)
            except ChangesTrimmed as exc:
                lost = {"session_id": session_id, "first": first, "last": last, "oldest": exc.oldest}
                log.error("session_notifications_lost", **lost)
                return []
            if len(read) == LOG_READ:  # the last revision read may go on: read it again in full next time
                read = [event for event in read if event.revision < read[-1].revision]
            events += [event for event in read if event.revision <= last]
            if not read:
                break
            after = read[-1].revision
        return _notifications(session_id, events, meta)

    async def _publish(self, message: OutboundEvent, revision: int) -> None:
        try:
            await self._publisher.publish(message)
        except PortError as exc:
            log.warning(
                "event_publish_failed", subject=message.subject, revision=revision, error=type(exc).__name__
            )
