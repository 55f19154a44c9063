"""In-memory planning read-models (spec, draft plan, planning stream, summaries, handoff bundles)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from context_service.domain.model import Milestone, PlanningReadModel


class InMemoryPlanningStore:
    """Holds the read-models other fleet services would keep in Valkey."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._specs: dict[str, dict[str, Any]] = {}
        self._drafts: dict[str, dict[str, Any]] = {}
        self._streams: dict[str, list[Milestone]] = {}
        self._summaries: dict[str, str] = {}
        self._role_summaries: dict[tuple[str, str], str] = {}
        self._handoffs: dict[str, tuple[dict[str, Any], float]] = {}
        self._now = monotonic

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """The story's read-models, summaries only for the roles asked."""
        spec = self._specs.get(story_id)
        draft = self._drafts.get(story_id)
        return PlanningReadModel(
            spec=copy.deepcopy(spec) if spec is not None else None,
            draft_plan=copy.deepcopy(draft) if draft is not None else None,
            timeline=tuple(self._streams.get(story_id, ())),
            story_summary=self._summaries.get(story_id, ""),
            role_summaries={r: s for r in roles if (s := self._role_summaries.get((story_id, r)))},
        )

    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None:
        """Merge fields into the story spec."""
        self._specs[story_id] = {**self._specs.get(story_id, {}), **copy.deepcopy(dict(spec))}

    async def save_handoff(
        self, story_id: str, generated_at_ms: int, bundle: Mapping[str, Any], ttl_seconds: int
    ) -> None:
        """Store the bundle under its timestamp and as `latest`, both expiring after the TTL."""
        expires = self._now() + ttl_seconds
        for suffix in (str(generated_at_ms), "latest"):
            self._handoffs[f"swe:case:{story_id}:handoff:{suffix}"] = (copy.deepcopy(dict(bundle)), expires)

    async def handoff(self, key: str) -> dict[str, Any] | None:
        """A persisted bundle by its full key, unless expired."""
        found = self._handoffs.get(key)
        if found is None or found[1] <= self._now():
            return None
        return copy.deepcopy(found[0])

    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None:
        """Seed a draft plan (as the planning service would)."""
        self._drafts[story_id] = copy.deepcopy(dict(draft))

    async def append_planning_event(self, story_id: str, event: Milestone) -> None:
        """Seed a planning stream event (as the planning service would)."""
        self._streams.setdefault(story_id, []).append(event)

    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None:
        """Seed the last session summary, for the story or one role."""
        if role:
            self._role_summaries[(story_id, role)] = summary
        else:
            self._summaries[story_id] = summary
