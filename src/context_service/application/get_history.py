"""GetHistory: a story's change records, newest first, one page at a time."""

from __future__ import annotations

from context_service.domain.errors import NotFound
from context_service.domain.history_pages import HistoryPage, decode_page_token, page_of, page_size
from context_service.domain.limits import optional_id, require_id
from context_service.ports.graph import HistoryReader, StoryReader


class GetHistory:
    """Pages through the records the commit step wrote; a token resumes below the last seq it saw."""

    def __init__(self, *, history: HistoryReader, stories: StoryReader) -> None:
        self._history = history
        self._stories = stories

    async def execute(self, story_id: str, entity_id: str, size: int, page_token: str) -> HistoryPage:
        """One page (NOT_FOUND for an unknown story, INVALID_ARGUMENT naming a bad field)."""
        story_id = require_id(story_id, "story_id")
        entity_id = optional_id(entity_id, "entity_id")
        limit = page_size(size)
        before = decode_page_token(page_token)
        records = await self._history.history(
            story_id, entity_id=entity_id, limit=limit + 1, before_seq=before
        )
        if not records and not before and await self._stories.get_story(story_id) is None:
            raise NotFound("story", story_id)
        return page_of(records, limit)
