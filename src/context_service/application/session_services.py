"""The wired session context use cases handed to the inbound adapters (gRPC, CLI, sweeper)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.session_feed import QUEUE_EVENTS, ChangeFeed
from context_service.application.session_notify import SessionNotifier
from context_service.application.session_reads import FindEntries, GetEntries, GetSession, ListSessions
from context_service.application.session_watch import SweepSessions, WatchSession
from context_service.application.session_writes import (
    CreateSession,
    DeleteEntry,
    DropSession,
    PutEntries,
)
from context_service.ports.events import EventPublisher
from context_service.ports.session import SessionStore
from context_service.ports.system import Clock


@dataclass(frozen=True)
class SessionUseCases:
    """One instance of each session use case."""

    create: CreateSession
    get_session: GetSession
    list_sessions: ListSessions
    drop: DropSession
    put: PutEntries
    get: GetEntries
    delete: DeleteEntry
    find: FindEntries
    watch: WatchSession
    sweep: SweepSessions


def session_use_cases(
    *,
    store: SessionStore,
    publisher: EventPublisher,
    clock: Clock,
    progress_seconds: float = 10.0,
    watch_queue_events: int = QUEUE_EVENTS,
) -> SessionUseCases:
    """Plain constructors over one store, one publisher and one clock; one change feed for every watch."""
    notifier = SessionNotifier(publisher=publisher, store=store)
    feed = ChangeFeed(store=store, queue_events=watch_queue_events)
    return SessionUseCases(
        create=CreateSession(store=store, clock=clock),
        get_session=GetSession(store=store, clock=clock),
        list_sessions=ListSessions(store=store, clock=clock),
        drop=DropSession(store=store, notifier=notifier, clock=clock),
        put=PutEntries(store=store, notifier=notifier, clock=clock),
        get=GetEntries(store=store, clock=clock),
        delete=DeleteEntry(store=store, notifier=notifier, clock=clock),
        find=FindEntries(store=store, clock=clock),
        watch=WatchSession(store=store, clock=clock, feed=feed, progress_seconds=progress_seconds),
        sweep=SweepSessions(store=store, notifier=notifier, clock=clock),
    )
