"""Helpers shared by the use cases: request metadata, story loading, phase parsing, change events."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog

from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.model import Located, Story, StoryGraph
from context_service.domain.mutations import NodeKind
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase, known_phases, parse_phase
from context_service.ports.errors import PortError
from context_service.ports.events import EventPublisher, OutboundEvent
from context_service.ports.graph import NodeLocator, StoryReader

log = structlog.get_logger()
UPDATED_SUBJECT = "context.events.updated"
UPDATED_EVENT = "context.updated"


@dataclass(frozen=True)
class RequestMeta:
    """Per-request data from the transport: correlation id and optional idempotency key."""

    correlation_id: str = ""
    idempotency_key: str = ""


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


async def require_story(stories: StoryReader, story_id: str) -> Story:
    """The story, or NOT_FOUND."""
    story = await stories.get_story(story_id)
    if story is None:
        raise NotFound("story", story_id)
    return story


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
