"""TransitionPhase: move a story to another phase, recording the transition."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.common import (
    RequestMeta,
    publish_updated,
    require_phase,
    require_story,
)
from context_service.application.fleet_batches import transition_mutations
from context_service.domain.limits import limit_text, require_id
from context_service.domain.mutations import WriteBatch
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.events import EventPublisher
from context_service.ports.graph import GraphWriter, StoryReader
from context_service.ports.planning import SpecWriter
from context_service.ports.system import Clock, IdGenerator


@dataclass(frozen=True)
class PhaseChanged:
    """TransitionPhase output."""

    story_id: str
    current_phase: str
    transitioned_at: str


class TransitionPhase:
    """Checks the expected phase inside the write, so concurrent transitions cannot both win."""

    def __init__(
        self,
        *,
        stories: StoryReader,
        writer: GraphWriter,
        specs: SpecWriter,
        publisher: EventPublisher,
        ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._stories = stories
        self._writer = writer
        self._specs = specs
        self._publisher = publisher
        self._ids = ids
        self._clock = clock

    async def execute(
        self,
        story_id: str,
        from_phase: str,
        to_phase: str,
        rationale: str = "",
        meta: RequestMeta | None = None,
    ) -> PhaseChanged:
        """Record the transition and announce it."""
        story_id = require_id(story_id, "story_id")
        target = require_phase(to_phase, "to_phase")
        expected = require_phase(from_phase, "from_phase") if from_phase.strip() else None
        rationale = limit_text(rationale, "rationale").strip()
        # The write itself checks the phase; the story is read only to learn it when the caller did not say.
        if expected is not None:
            source = expected.value
        else:
            source = (await require_story(self._stories, story_id)).current_phase
        now_ms = self._clock.now_ms()
        transition_id = f"PT-{story_id}-{now_ms}-{self._ids.hex(6)}"
        batch = _transition_batch(
            story_id, transition_id, source, target.value, rationale=rationale, now_ms=now_ms
        )
        committed = await self._writer.commit(batch)
        await self._specs.merge_spec(story_id, {"current_phase": target.value})
        await publish_updated(
            self._publisher,
            story_id=story_id,
            version=committed.version,
            changed=[("PHASE", transition_id)],
            event_key=transition_id,
            now_ms=now_ms,
            meta=meta or RequestMeta(),
        )
        return PhaseChanged(story_id, target.value, iso_from_ms(now_ms))


def _transition_batch(
    story_id: str, transition_id: str, source: str, target: str, *, rationale: str, now_ms: int
) -> WriteBatch:
    """The PhaseTransition node and the story's new phase, committed only if the phase is still `source`."""
    mutations = transition_mutations(story_id, transition_id, (source, target), rationale, now_ms)
    return WriteBatch(story_id, mutations, expect_phase=source)
