"""TransitionPhase: move a story to another phase, recording the transition."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, require_phase
from context_service.domain.errors import NotYetKnown
from context_service.domain.limits import limit_text, require_id
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.schema import story, transition
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.graph import StoryReader
from context_service.ports.planning import SpecWriter
from context_service.ports.system import Clock, IdGenerator


@dataclass(frozen=True)
class TransitionRequest:
    """TransitionPhase input (the RPC and planning.story.transitioned); no `from_phase`: the current one."""

    story_id: str
    to_phase: str
    from_phase: str = ""
    rationale: str = ""


@dataclass(frozen=True)
class PhaseChanged:
    """TransitionPhase output."""

    story_id: str
    current_phase: str
    transitioned_at: str
    transition_id: str = ""


class TransitionPhase:
    """Checks the expected phase inside the write, so concurrent transitions cannot both win."""

    def __init__(
        self,
        *,
        stories: StoryReader,
        commits: CommitStep,
        specs: SpecWriter,
        ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._stories = stories
        self._commits = commits
        self._specs = specs
        self._ids = ids
        self._clock = clock

    async def execute(self, request: TransitionRequest, meta: RequestMeta | None = None) -> PhaseChanged:
        """Record the transition and announce it; a retry under the same idempotency key changes nothing."""
        meta = meta or RequestMeta()
        story_id = require_id(request.story_id, "story_id")
        target = require_phase(request.to_phase, "to_phase")
        expected = require_phase(request.from_phase, "from_phase").value if request.from_phase.strip() else ""
        rationale = limit_text(request.rationale, "rationale").strip()
        source = expected or await self._current_phase(story_id)
        at_ms = meta.at_ms(self._clock)
        transition_id = transition.new_id(story_id, at_ms, meta.ref(self._ids))
        mutations = transition_mutations(story_id, transition_id, (source, target.value), rationale, at_ms)
        batch = WriteBatch(
            story_id,
            mutations,
            expect_phase=source,
            request_id=meta.idempotency_key,
            changed=(("PHASE", transition_id),),
            event_key=transition_id,
        )
        await self._commits.run(batch, meta)
        await self._specs.merge_spec(story_id, {"current_phase": target.value})
        return PhaseChanged(story_id, target.value, iso_from_ms(at_ms), transition_id)

    async def _current_phase(self, story_id: str) -> str:
        """The story's phase, read only when the caller did not say which one it expects."""
        story = await self._stories.get_story(story_id)
        if story is None:  # for a planning event, the story's own event may still be on its way
            raise NotYetKnown("story", story_id)
        return story.current_phase


def transition_mutations(
    story_id: str, transition_id: str, phases: tuple[str, str], rationale: str, at_ms: int
) -> tuple[Mutation, Mutation]:
    """The PhaseTransition node and the story's new current phase."""
    on_create = transition.on_create(story_id, phases, rationale, at_ms)
    moved = Mutation(NodeKind.STORY, story_id, fields=story.phase_fields(phases[1], iso_from_ms(at_ms)))
    return Mutation(NodeKind.TRANSITION, transition_id, on_create=on_create), moved
