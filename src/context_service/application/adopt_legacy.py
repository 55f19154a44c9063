"""AdoptLegacy: bring a graph the legacy service wrote into this service's model, batch by batch, resumably.

Each story is one write batch through the commit-and-announce step every use case uses (one atomic
commit, then `context.events.updated` naming what it wrote), with a history record per entity it writes
and a request id derived from the digest of what it writes: a second run of an unchanged legacy graph is
a replay of every story and writes nothing. A checkpoint in the key-value store records the last batch
committed, so a run that stopped resumes after it. A dry run writes nothing, not even the legacy key
indexes a run creates first (it uses them when an earlier run left them, and reads more slowly without).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta
from context_service.domain.legacy import MIGRATION_SOURCE, LegacyStory
from context_service.domain.legacy_mapping import RoleNormaliser, StoryAdoption, map_planning, map_story
from context_service.domain.legacy_report import AdoptionReport
from context_service.domain.mutations import WriteBatch
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.errors import DanglingLink, OwnershipConflict, PreconditionFailed, StoryMissing
from context_service.ports.kv import KeyValueStore
from context_service.ports.legacy import LegacyGraphReader
from context_service.ports.system import Clock

CHECKPOINT_KEY = "migrate:legacy-adoption"
RUNNING, COMPLETE, INCOMPLETE = "running", "complete", "incomplete"
# A story the model's commit rules refuse is reported and the run goes on; store outages stop the run.
REFUSED = (DanglingLink, OwnershipConflict, PreconditionFailed, StoryMissing)


@dataclass(frozen=True)
class Progress:
    """How far a run is: stories done (of all), legacy nodes read so far."""

    done: int
    total: int
    nodes: int


@dataclass
class AdoptionSummary:
    """What a run did; `report` says what it read and how it mapped it."""

    report: AdoptionReport
    dry_run: bool
    adopted: int = 0
    unchanged: int = 0
    resumed_after: str = ""
    skipped: int = 0
    batches: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every story was adopted (or already was)."""
        return not self.dry_run and not self.failed


class AdoptLegacy:
    """Reads the legacy layout in batches of stories, maps it, and commits each story (unless a dry run)."""

    def __init__(
        self,
        *,
        legacy: LegacyGraphReader,
        commits: CommitStep,
        checkpoints: KeyValueStore,
        roles: RoleNormaliser,
        clock: Clock,
    ) -> None:
        self._legacy = legacy
        self._commits = commits
        self._checkpoints = checkpoints
        self._roles = roles
        self._clock = clock

    async def execute(
        self, *, dry_run: bool, batch_size: int, progress: Callable[[Progress], None] | None = None
    ) -> AdoptionSummary:
        """Adopt every legacy story (or, in a dry run, only report what adopting would do)."""
        summary = AdoptionSummary(AdoptionReport(), dry_run)
        if not dry_run:  # a dry run changes nothing, not even the indexes
            await self._legacy.prepare()  # without them every batch would scan whole labels
        keys = await self._legacy.story_keys()
        epics = await self._planning(summary)
        summary.report.add_orphans(await self._legacy.orphans(keys))
        summary.resumed_after = "" if dry_run else await self._resume_point()
        todo = [k for k in keys if k > summary.resumed_after]
        summary.skipped = len(keys) - len(todo)
        batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
        await self._batches(batches, epics, summary, _Progress(progress, summary, len(keys)))
        if not dry_run:
            status = COMPLETE if summary.complete else INCOMPLETE
            await self._checkpoints.set(CHECKPOINT_KEY, self._checkpoint(status, "", summary))
        return summary

    async def _batches(
        self, batches: Sequence[list[str]], epics: frozenset[str], summary: AdoptionSummary, done: _Progress
    ) -> None:
        """Each batch in turn, the next one read while this one commits (one batch ahead, no further)."""
        ahead: asyncio.Task[list[LegacyStory]] | None = None
        written: set[str] = set()
        try:
            for i, keys in enumerate(batches):
                stories = await ahead if ahead is not None else await self._legacy.read_stories(keys)
                if _holds_any(stories, written):  # read before the last batch adopted some of its nodes
                    stories = await self._legacy.read_stories(keys)
                nxt = batches[i + 1] if i + 1 < len(batches) else None
                ahead = asyncio.create_task(self._legacy.read_stories(nxt)) if nxt else None
                written = await self._batch(keys, stories, epics, summary)
                done.batch(len(keys))
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _planning(self, summary: AdoptionSummary) -> frozenset[str]:
        mutations, epics = map_planning(await self._legacy.planning(), summary.report)
        if mutations and not summary.dry_run:
            await self._commits.run(WriteBatch("", mutations), RequestMeta(correlation_id=MIGRATION_SOURCE))
        return epics

    async def _resume_point(self) -> str:
        """The last story key a stopped run committed ('' when the last run finished, or none ran)."""
        checkpoint = await self._checkpoints.get(CHECKPOINT_KEY)
        if checkpoint is None or checkpoint.get("status") != RUNNING:
            return ""
        return str(checkpoint.get("after", ""))

    async def _batch(
        self, keys: Sequence[str], stories: list[LegacyStory], epics: frozenset[str], summary: AdoptionSummary
    ) -> set[str]:
        """Map and (unless a dry run) commit one batch, then move the checkpoint past it; the ids it wrote."""
        adoptions = [map_story(s, roles=self._roles, epics=epics, report=summary.report) for s in stories]
        summary.batches += 1
        if summary.dry_run:
            return set()
        outcomes = await asyncio.gather(*(self._commit(a) for a in adoptions), return_exceptions=True)
        for adoption, outcome in zip(adoptions, outcomes, strict=True):
            if isinstance(outcome, REFUSED):
                summary.failed.append(f"story '{adoption.story_id}': {outcome}")
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome:
                summary.unchanged += 1
            else:
                summary.adopted += 1
        await self._checkpoints.set(CHECKPOINT_KEY, self._checkpoint(RUNNING, keys[-1], summary))
        return {m.node_id for adoption in adoptions for m in adoption.mutations}

    async def _commit(self, adoption: StoryAdoption) -> bool:
        """Commit one story's adoption; True when it was already committed (a replay)."""
        request_id = f"{MIGRATION_SOURCE}:{adoption.digest}"
        batch = WriteBatch(
            adoption.story_id,
            adoption.mutations,
            bump_version=True,
            request_id=request_id,
            changed=tuple(adoption.entities()),
            event_key=request_id,
            source=MIGRATION_SOURCE,  # the store writes one history record per entity, with this source
            timestamp=iso_from_ms(self._clock.now_ms()),
        )
        meta = RequestMeta(correlation_id=MIGRATION_SOURCE, idempotency_key=request_id)
        return (await self._commits.run(batch, meta)).replayed

    def _checkpoint(self, status: str, after: str, summary: AdoptionSummary) -> dict[str, object]:
        return {
            "status": status,
            "after": after,
            "adopted": summary.adopted,
            "unchanged": summary.unchanged,
            "failed": summary.failed[:100],
            "at": iso_from_ms(self._clock.now_ms()),
        }


class _Progress:
    """Reports stories done (of all) after each batch, when the caller asked for progress."""

    def __init__(
        self, report: Callable[[Progress], None] | None, summary: AdoptionSummary, total: int
    ) -> None:
        self._report = report
        self._summary = summary
        self._total = total
        self._done = summary.skipped

    def batch(self, stories: int) -> None:
        """One more batch of `stories` is done."""
        self._done += stories
        if self._report is not None:
            self._report(Progress(self._done, self._total, self._summary.report.nodes_read))


def _holds_any(stories: Sequence[LegacyStory], ids: set[str]) -> bool:
    """Whether any legacy node of these stories has one of these ids (one a previous batch adopted)."""
    records = (props for story in stories for shape in story.nodes.values() for props in shape)
    return bool(ids) and any(str(props.get("id")) in ids for props in records)
