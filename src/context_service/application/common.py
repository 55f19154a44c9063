"""Helpers shared by the use cases: request metadata, story and owner lookups, phases, change events."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import structlog

from context_service.domain.errors import InvalidArgument, NotFound, NotYetKnown
from context_service.domain.limits import optional_id
from context_service.domain.model import Located, StoryGraph
from context_service.domain.mutations import NodeKind
from context_service.domain.policy import ScopePolicy
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase, known_phases, parse_phase
from context_service.ports.errors import PortError
from context_service.ports.events import EventPublisher, OutboundEvent
from context_service.ports.graph import NodeLocator, StoryReader
from context_service.ports.system import Clock, IdGenerator

log = structlog.get_logger()
UPDATED_SUBJECT = "context.events.updated"
UPDATED_EVENT = "context.updated"
# What a request is told (ABORTED) when its idempotency key was used for a different request.
KEY_REUSED = "idempotency-key was already used with different content"


class RequestMeta(NamedTuple):
    """Per-request data from the transport: correlation id, idempotency key, and an event's own time.

    A named tuple: one is built for every call, and a frozen dataclass costs three times as much to build.
    """

    correlation_id: str = ""
    idempotency_key: str = ""
    occurred_at_ms: int = 0
    source: str = ""  # what wrote it: the RPC's name or the NATS subject (kept in the history)

    def at_ms(self, clock: Clock) -> int:
        """When the write happens: an event's own time (a redelivery writes the same), else now."""
        return self.occurred_at_ms or clock.now_ms()

    def ref(self, ids: IdGenerator, length: int = 6) -> str:
        """Hex digits for a generated id: stable per idempotency key (redeliveries), random without one."""
        if not self.idempotency_key:
            return ids.hex(length)
        return hashlib.sha256(self.idempotency_key.encode("utf-8")).hexdigest()[:length].upper()


def require_phase(raw: str, field_name: str = "phase") -> Phase:
    """A known phase, or INVALID_ARGUMENT naming the known ones."""
    if not raw.strip():
        raise InvalidArgument(f"{field_name} is required", field=field_name)
    phase = parse_phase(raw)
    if phase is None:
        raise InvalidArgument(
            f"unknown {field_name} '{raw.strip()}'; known phases: {known_phases()}", field=field_name
        )
    return phase


async def locate_tasks(nodes: NodeLocator, story_id: str, task_ids: Iterable[str]) -> dict[str, Located]:
    """Where each of `task_ids` lives, checking in the same round trip that the story exists (NOT_FOUND)."""
    found = await nodes.locate([(NodeKind.STORY, story_id), *((NodeKind.TASK, t) for t in task_ids)])
    if (NodeKind.STORY, story_id) not in found:
        raise NotFound("story", story_id)
    return {node_id: where for (kind, node_id), where in found.items() if kind is NodeKind.TASK}


async def owner_story(nodes: NodeLocator, kind: NodeKind, node_id: str, claimed: str) -> str:
    """The story an event names, else the story that owns `node_id` (not known yet: its event may come)."""
    story_id = optional_id(claimed, "story_id")
    if story_id:
        return story_id
    where = (await nodes.locate([(kind, node_id)])).get((kind, node_id))
    if where is None or not where.story_id:
        raise NotYetKnown(kind.value.lower(), node_id)
    return where.story_id


def fleet_role(policy: ScopePolicy, raw: str) -> str:
    """A known role normalised; other fleet roles are kept (lower-case) rather than losing the event."""
    if not raw.strip():
        return ""
    return policy.normalise_role(raw) or raw.strip().lower()


async def require_story_graph(stories: StoryReader, story_id: str) -> StoryGraph:
    """The story's neighbourhood, or NOT_FOUND."""
    graph = await stories.load_story_graph(story_id)
    if graph is None:
        raise NotFound("story", story_id)
    return graph


def version_hash(story_id: str, version: int) -> str:
    """First 16 hex characters of SHA-256 of "{story_id}:{version}"."""
    return hashlib.sha256(f"{story_id}:{version}".encode()).hexdigest()[:16]


async def publish_updated(
    publisher: EventPublisher,
    *,
    story_id: str,
    version: int,
    changed: Sequence[tuple[str, str]],
    event_key: str,
    now_ms: int,
    meta: RequestMeta,
) -> None:
    """Announce a committed change; a failed hand-over is logged, never raised (the change is committed)."""
    event = OutboundEvent(
        subject=UPDATED_SUBJECT,
        event_type=UPDATED_EVENT,
        payload={
            "story_id": story_id,
            "version": version,
            "hash": version_hash(story_id, version),
            "changed": [{"entity_type": t, "entity_id": i} for t, i in changed],
            "timestamp": iso_from_ms(now_ms),
        },
        idempotency_key=f"{UPDATED_EVENT}:{story_id}:{event_key}",
        correlation_id=meta.correlation_id or event_key,
        causation_id=meta.idempotency_key,
    )
    try:
        await publisher.publish(event)
    except PortError as exc:
        log.warning(
            "event_publish_failed", subject=UPDATED_SUBJECT, story_id=story_id, error=type(exc).__name__
        )
