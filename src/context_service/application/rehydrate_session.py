"""RehydrateSession: per-role context packs built from one load of the story's data."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from context_service.application.cached_reads import CachedReads, Finish
from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import MAX_ROLES, require_id
from context_service.domain.model import PlanningReadModel, StoryGraph
from context_service.domain.packs import PackOptions, RolePack, StoryStats, build_pack, story_stats
from context_service.domain.policy import ScopePolicy
from context_service.ports.planning import HandoffWriter
from context_service.ports.system import Clock

DEFAULT_TIMELINE_EVENTS = 50
DEFAULT_TTL_SECONDS = 3600
MAX_TIMELINE_EVENTS = 1000
MAX_TTL_SECONDS = 30 * 24 * 3600
T = TypeVar("T")


@dataclass(frozen=True)
class RehydrateRequest:
    """RehydrateSession input."""

    case_id: str
    roles: tuple[str, ...]
    include_timeline: bool = False
    include_summaries: bool = False
    timeline_events: int = 0
    persist_bundle: bool = False
    ttl_seconds: int = 0


@dataclass(frozen=True)
class Rehydration:
    """Packs keyed by role, with whole-story stats."""

    case_id: str
    generated_at_ms: int
    packs: Mapping[str, RolePack]
    stats: StoryStats
    events: int
    roles: tuple[str, ...]


@dataclass(frozen=True)
class _Asked:
    """A validated request's cache key: what shapes the packs (not the clock, not the bundle's ttl)."""

    case_id: str
    roles: tuple[str, ...]
    options: PackOptions


class RehydrateSession:
    """Loads the story once and builds a pack per requested role."""

    def __init__(
        self,
        *,
        policy: ScopePolicy,
        reads: CachedReads,
        handoffs: HandoffWriter,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._reads = reads
        self._handoffs = handoffs
        self._clock = clock

    async def execute(self, request: RehydrateRequest) -> Rehydration:
        """Validate, load once, build packs, optionally persist the bundle (no cache)."""
        asked = self._validated(request)
        result = self._build(asked, *await self._reads.load(asked.case_id, asked.roles))
        if request.persist_bundle:
            asked_ttl = request.ttl_seconds
            ttl = min(asked_ttl, MAX_TTL_SECONDS) if asked_ttl > 0 else DEFAULT_TTL_SECONDS
            bundle = bundle_json(result)
            await self._handoffs.save_handoff(asked.case_id, result.generated_at_ms, bundle, ttl)
        return result

    async def answer(self, request: RehydrateRequest, finish: Finish[Rehydration, T]) -> tuple[T, int]:
        """`execute` finished by `finish`, and the time it was generated at (now when it comes from the
        response cache, which a request that persists its bundle never uses)."""
        if request.persist_bundle:
            result = await self.execute(request)
            return finish(result)[0], result.generated_at_ms
        asked = self._validated(request)
        build = functools.partial(self._build, asked)
        answer = await self._reads.answer(asked, asked.case_id, asked.roles, build, finish)
        return answer, self._clock.now_ms()

    def _validated(self, request: RehydrateRequest) -> _Asked:
        case_id = require_id(request.case_id, "case_id")
        options = PackOptions(
            include_timeline=request.include_timeline,
            include_summaries=request.include_summaries,
            timeline_events=min(request.timeline_events, MAX_TIMELINE_EVENTS)
            if request.timeline_events > 0
            else DEFAULT_TIMELINE_EVENTS,
        )
        return _Asked(case_id, self._roles(request.roles), options)

    def _build(self, asked: _Asked, graph: StoryGraph, planning: PlanningReadModel) -> Rehydration:
        packs = {role: build_pack(graph, planning, role, asked.options) for role in asked.roles}
        events = max((len(p.milestones) for p in packs.values()), default=0)
        stats = story_stats(graph)
        return Rehydration(asked.case_id, self._clock.now_ms(), packs, stats, events, asked.roles)

    def _roles(self, raw_roles: tuple[str, ...]) -> tuple[str, ...]:
        if not raw_roles:
            raise InvalidArgument("roles must not be empty", field="roles")
        if len(raw_roles) > MAX_ROLES:
            raise InvalidArgument(f"at most {MAX_ROLES} roles per call", field="roles")
        roles = [self._policy.require_role(r, field_name="roles") for r in raw_roles]
        return tuple(dict.fromkeys(roles))


def bundle_json(result: Rehydration) -> dict[str, Any]:
    """The persisted handoff bundle: the whole rehydration as plain JSON."""
    return {
        "case_id": result.case_id,
        "generated_at_ms": result.generated_at_ms,
        "roles": list(result.roles),
        "packs": {role: asdict(pack) for role, pack in result.packs.items()},
        "stats": {**asdict(result.stats), "events": result.events, "roles": list(result.roles)},
    }
