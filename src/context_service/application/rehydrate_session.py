"""RehydrateSession: per-role context packs built from one load of the story's data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from context_service.application.common import require_story_graph
from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import MAX_ROLES, require_id
from context_service.domain.packs import PackOptions, RolePack, StoryStats, build_pack, story_stats
from context_service.domain.policy import ScopePolicy
from context_service.ports.graph import StoryReader
from context_service.ports.planning import HandoffWriter, PlanningReader
from context_service.ports.system import Clock

DEFAULT_TIMELINE_EVENTS = 50
DEFAULT_TTL_SECONDS = 3600
MAX_TIMELINE_EVENTS = 1000
MAX_TTL_SECONDS = 30 * 24 * 3600


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


class RehydrateSession:
    """Loads the story once and builds a pack per requested role."""

    def __init__(
        self,
        *,
        policy: ScopePolicy,
        stories: StoryReader,
        planning: PlanningReader,
        handoffs: HandoffWriter,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._stories = stories
        self._planning = planning
        self._handoffs = handoffs
        self._clock = clock

    async def execute(self, request: RehydrateRequest) -> Rehydration:
        """Validate, load once, build packs, optionally persist the bundle."""
        case_id = require_id(request.case_id, "case_id")
        roles = self._roles(request.roles)
        options = PackOptions(
            include_timeline=request.include_timeline,
            include_summaries=request.include_summaries,
            timeline_events=min(request.timeline_events, MAX_TIMELINE_EVENTS)
            if request.timeline_events > 0
            else DEFAULT_TIMELINE_EVENTS,
        )
        ttl = min(request.ttl_seconds, MAX_TTL_SECONDS) if request.ttl_seconds > 0 else DEFAULT_TTL_SECONDS
        graph = await require_story_graph(self._stories, case_id)
        planning = await self._planning.load(case_id, roles)
        packs = {role: build_pack(graph, planning, role, options) for role in roles}
        generated_at_ms = self._clock.now_ms()
        events = max((len(p.milestones) for p in packs.values()), default=0)
        result = Rehydration(case_id, generated_at_ms, packs, story_stats(graph), events, roles)
        if request.persist_bundle:
            await self._handoffs.save_handoff(case_id, generated_at_ms, bundle_json(result), ttl)
        return result

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
