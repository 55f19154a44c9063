"""CreateStory: create a story once, or return it unchanged (the RPC, planning.story.created, the demo)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, require_phase
from context_service.domain.limits import limit_text, optional_id, require_id, require_text
from context_service.domain.model import Story
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.schema import story as story_schema
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase
from context_service.ports.graph import StoryReader
from context_service.ports.planning import SpecWriter
from context_service.ports.system import Clock


@dataclass(frozen=True)
class StoryRequest:
    """CreateStory input; `epic_id` (planning events, the demo) hangs the story under a known epic."""

    story_id: str
    title: str
    description: str = ""
    initial_phase: str = ""
    created_by: str = ""
    epic_id: str = ""


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

    async def execute(self, request: StoryRequest, meta: RequestMeta | None = None) -> StoryCreated:
        """Create once; a repeat returns the current phase and changes nothing but a missing epic link."""
        meta = meta or RequestMeta()
        story_id = require_id(request.story_id, "story_id")
        title = require_text(request.title, "title")
        description = limit_text(request.description, "description").strip()
        phase = (
            require_phase(request.initial_phase, "initial_phase") if request.initial_phase.strip() else None
        )
        epic_id = optional_id(request.epic_id, "epic_id")
        existing = await self._stories.get_story(story_id)
        if existing is not None and (not epic_id or existing.epic_id == epic_id):
            return StoryCreated(f"ctx-{story_id}", story_id, existing.current_phase)
        now_ms = meta.at_ms(self._clock)
        story = Story(
            story_id,
            title,
            description,
            current_phase=(phase or Phase.DESIGN).value,
            created_by=request.created_by,
            created_at=iso_from_ms(now_ms),
            updated_at=iso_from_ms(now_ms),
            epic_id=epic_id,
        )
        committed = await self._commits.run(WriteBatch(story_id, (_story_mutation(story),)), meta)
        if existing is None:
            await self._specs.merge_spec(story_id, _spec(story, now_ms, committed.current_phase))
        return StoryCreated(f"ctx-{story_id}", story_id, committed.current_phase)


def _story_mutation(story: Story) -> Mutation:
    """The story's create-time properties; with an epic, its epic_id and (Epic)-[:CONTAINS_STORY] edge."""
    fields, links = story_schema.epic_fields(story.epic_id)
    on_create = story_schema.on_create(story)
    return Mutation(NodeKind.STORY, story.story_id, fields=fields, on_create=on_create, links=links)


def _spec(story: Story, now_ms: int, phase: str) -> dict[str, object]:
    """The story spec read-model of a new story."""
    return {
        "story_id": story.story_id,
        "title": story.title,
        "description": story.description,
        "acceptance_criteria": [],
        "constraints": [],
        "requester_id": story.created_by,
        "tags": [],
        "created_at_ms": now_ms,
        "current_phase": phase,
    }
