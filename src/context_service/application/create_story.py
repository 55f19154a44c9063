"""CreateStory: create a story, or return the existing one unchanged (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, require_phase
from context_service.domain.limits import limit_text, require_id, require_text
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase
from context_service.ports.graph import StoryReader
from context_service.ports.planning import SpecWriter
from context_service.ports.system import Clock


@dataclass(frozen=True)
class StoryCreated:
    """CreateStory output."""

    context_id: str
    story_id: str
    current_phase: str


class CreateStory:
    """Writes the Story node (MERGE, created_at kept) and the story spec read-model."""

    def __init__(self, *, stories: StoryReader, commits: CommitStep, specs: SpecWriter, clock: Clock) -> None:
        self._stories = stories
        self._commits = commits
        self._specs = specs
        self._clock = clock

    async def execute(
        self, story_id: str, title: str, description: str = "", initial_phase: str = "", created_by: str = ""
    ) -> StoryCreated:
        """Create once; a repeat returns the current phase and changes nothing."""
        story_id = require_id(story_id, "story_id")
        title = require_text(title, "title")
        description = limit_text(description, "description").strip()
        phase = require_phase(initial_phase, "initial_phase") if initial_phase.strip() else Phase.DESIGN
        existing = await self._stories.get_story(story_id)
        if existing is not None:
            return StoryCreated(f"ctx-{story_id}", story_id, existing.current_phase)
        now_ms = self._clock.now_ms()
        now = iso_from_ms(now_ms)
        on_create = {
            "title": title,
            "description": description,
            "status": "ACTIVE",
            "current_phase": phase.value,
            "context_version": 0,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "epic_id": "",
        }
        batch = WriteBatch(story_id, (Mutation(NodeKind.STORY, story_id, on_create=on_create),))
        committed = await self._commits.run(batch, RequestMeta())
        spec = {
            "story_id": story_id,
            "title": title,
            "description": description,
            "acceptance_criteria": [],
            "constraints": [],
            "requester_id": created_by,
            "tags": [],
            "created_at_ms": now_ms,
        }
        await self._specs.merge_spec(story_id, {**spec, "current_phase": committed.current_phase})
        return StoryCreated(f"ctx-{story_id}", story_id, committed.current_phase)
