"""Reads of a story's context through the response cache: built once, served while the inputs are unchanged.

An answer depends on the story's load (whose content revision every write that changes it bumps, atomically
with the write) and on the planning read-models other services write in the key-value store (compared as
read). Each call reads both (one small read each, at once) and serves the cached answer only when both are
what it was built from; otherwise it loads the story and builds the answer again. A write acknowledged by any
replica is therefore in the next read on every replica, whatever crashed in between. Calls that ask about
the same story at once share these two reads, but only reads sent after they arrived (`CoalescedReads`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from typing import Any, TypeVar, cast

from context_service.application.coalesced import CoalescedReads
from context_service.application.common import require_story_graph
from context_service.domain.errors import NotFound
from context_service.domain.model import PlanningReadModel, StoryGraph
from context_service.ports.graph import StoryReader, StoryRevisions
from context_service.ports.planning import PlanningReader
from context_service.ports.responses import ResponseCache

R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
# Builds the use case's result from the story's load and read-models.
Build = Callable[[StoryGraph, PlanningReadModel], R]
# Turns a result into the answer as served, and its size in bytes.
Finish = Callable[[R], tuple[T, int]]


class CachedReads:
    """The story load and planning read of the context reads, with their finished answers cached."""

    def __init__(
        self,
        *,
        stories: StoryReader,
        revisions: StoryRevisions,
        planning: PlanningReader,
        cache: ResponseCache,
    ) -> None:
        self._stories = stories
        self._revisions = revisions
        self._planning = planning
        self._cache = cache
        self._current = CoalescedReads(self._inputs)

    async def _inputs(self, asked: tuple[str, tuple[str, ...]]) -> tuple[int | None, PlanningReadModel]:
        """The story's content revision (None: no story) and its read-models for the roles."""
        story_id, roles = asked
        return await at_once(self._revisions.story_revision(story_id), self._planning.load(story_id, roles))

    async def load(self, story_id: str, roles: Iterable[str]) -> tuple[StoryGraph, PlanningReadModel]:
        """The story's load (NOT_FOUND if there is no story) and its read-models, read at once."""
        story = require_story_graph(self._stories, story_id)
        return await at_once(story, self._planning.load(story_id, roles))

    async def answer(
        self, key: Hashable, story_id: str, roles: Iterable[str], build: Build[R], finish: Finish[R, T]
    ) -> T:
        """The cached answer if its story revision and read-models are current, else a new one (kept)."""
        if not self._cache.enabled:
            return finish(build(*await self.load(story_id, roles)))[0]
        revision, planning = await self._current.get((story_id, tuple(roles)))
        if revision is None:
            raise NotFound("story", story_id)
        cached = self._cache.fresh(key, revision, planning)
        if cached is not None:
            return cast(T, cached)
        graph = await require_story_graph(self._stories, story_id)
        answer, size = finish(build(graph, planning))
        if graph.cacheable:  # keyed on the revision the load itself read, with the read-models it used
            self._cache.store(key, graph.story.content_revision, planning, answer, size)
        return answer


async def at_once(first: Awaitable[A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """Both results, read concurrently: `second` in a task while this one awaits `first`.

    One task per call where `asyncio.gather` makes two. If `first` fails, `second` is cancelled and
    awaited before the error goes on.
    """
    task = asyncio.ensure_future(second)
    try:
        result = await first
    except BaseException:
        task.cancel()
        await asyncio.wait((task,))
        if not task.cancelled():
            task.exception()  # retrieved: its own failure is not the one to report
        raise
    return result, await task
