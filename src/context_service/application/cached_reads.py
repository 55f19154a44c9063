"""Reads of a story's context through the response cache: built once, served while the inputs are unchanged.

An answer depends on the story's load (whose content revision every write that changes it bumps, atomically
with the write) and on the planning read-models other services write in the key-value store (compared as
read). Each call reads both (one read each, at once) and serves the cached answer only when both are what it
was built from; otherwise it builds the answer again. A write acknowledged by any replica is therefore in the
next read on every replica, whatever crashed in between. Calls that ask about the same story at once share
these two reads, but only reads sent after they arrived (`CoalescedReads`).

The story read names the revision of the story's last load here: while the story is still at it, only the
revision comes back; once it moved (a write, here or on another replica), the new load comes with it, so the
first read after a write needs one round trip to the graph, not a revision read and then a load.

With a change watch (the stores push notice of every change), a call skips even those reads: once the watch
has caught up with everything changed before the call arrived and nothing changed since the inputs were
last read, they are still what was read. Inputs read while a change came in are not kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar, cast

from context_service.application.common import require_story_graph
from context_service.application.concurrent_reads import CoalescedReads, at_once
from context_service.domain.errors import NotFound
from context_service.domain.model import PlanningReadModel, StoryGraph
from context_service.ports.graph import NO_REVISION, StoryReader, StoryRevisions
from context_service.ports.planning import PlanningReader
from context_service.ports.responses import ChangeWatch, ResponseCache

R = TypeVar("R")
T = TypeVar("T")
X = TypeVar("X")
# Builds the use case's result from the story's load and read-models.
Build = Callable[[StoryGraph, PlanningReadModel], R]
# Turns a result into the answer as served, and its size in bytes.
Finish = Callable[[R], tuple[T, int]]
Asked = tuple[str, tuple[str, ...]]  # story id and roles
# Content revision (None: no story), read-models, and the story's load when its revision was not the one
# last loaded here (None otherwise).
Inputs = tuple[int | None, PlanningReadModel, StoryGraph | None]
# Entries kept between calls: inputs per story and role set (between changes), last load's revision per story.
MAX_KNOWN_INPUTS = 10_000


class CachedReads:
    """The story load and planning read of the context reads, with their finished answers cached."""

    def __init__(
        self,
        *,
        stories: StoryReader,
        revisions: StoryRevisions,
        planning: PlanningReader,
        cache: ResponseCache,
        changes: ChangeWatch | None = None,
    ) -> None:
        self._stories = stories
        self._revisions = revisions
        self._planning = planning
        self._cache = cache
        self._changes = changes
        self._current = CoalescedReads(self._read_inputs)
        self._known: dict[Asked, Inputs] = {}
        self._known_generation = -1
        self._loaded: dict[str, int] = {}  # story id -> the content revision of its last load here

    async def _read_inputs(self, asked: Asked) -> Inputs:
        story_id, roles = asked
        seen = self._loaded.get(story_id, NO_REVISION)
        (revision, graph), planning = await at_once(
            self._revisions.load_if_changed(story_id, seen), self._planning.load(story_id, roles)
        )
        if graph is not None:
            self._note_load(graph)
        return revision, planning, graph

    def _note_load(self, graph: StoryGraph) -> None:
        if len(self._loaded) >= MAX_KNOWN_INPUTS:
            self._loaded.clear()
        self._loaded[graph.story.story_id] = graph.story.content_revision

    async def _inputs(self, asked: Asked) -> Inputs:
        """The story's content revision and read-models as of this call: kept ones while nothing changed."""
        changes = self._changes
        if changes is None or not await changes.caught_up():
            return await self._from_stores(self._current.get(asked))
        generation = changes.generation
        if generation != self._known_generation:
            self._known.clear()
            self._known_generation = generation
        known = self._known.get(asked)
        if known is not None:
            return known
        inputs = await self._from_stores(self._current.get(asked))  # a read sent after `generation` was taken
        if changes.generation == generation:  # no change came in meanwhile: nothing newer hides behind it
            if len(self._known) >= MAX_KNOWN_INPUTS:
                self._known.clear()
            self._known[asked] = (inputs[0], inputs[1], None)  # the revision and read-models, not the load
        return inputs

    async def _from_stores(self, read: Awaitable[X]) -> X:
        """`read`; meanwhile this call is no reader at work for the change watch (its next fence need not be
        held for a store's answer)."""
        changes = self._changes
        if changes is None:
            return await read
        changes.end_read()
        try:
            return await read
        finally:
            changes.begin_read()

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
        changes = self._changes
        if changes is None:
            return await self._answer(key, story_id, roles, build, finish)
        changes.begin_read()
        try:
            return await self._answer(key, story_id, roles, build, finish)
        finally:
            changes.end_read()

    async def _answer(
        self, key: Hashable, story_id: str, roles: Iterable[str], build: Build[R], finish: Finish[R, T]
    ) -> T:
        revision, planning, graph = await self._inputs((story_id, tuple(roles)))
        if revision is None:
            raise NotFound("story", story_id)
        cached = self._cache.fresh(key, revision, planning)
        if cached is not None:
            return cast(T, cached)
        if graph is None:  # the story is still at its last load here, but this answer was not built from it
            graph = await self._from_stores(require_story_graph(self._stories, story_id))
            self._note_load(graph)
        answer, size = finish(build(graph, planning))
        if graph.cacheable:  # keyed on the revision the load itself read, with the read-models it used
            self._cache.store(key, graph.story.content_revision, planning, answer, size)
        return answer
