"""Ports over a graph the legacy service wrote: reading its layout in batches, and removing it afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from context_service.domain.legacy import LegacyOrphan, LegacyPlanning, LegacyStory


class LegacyGraphReader(Protocol):
    """Reads every legacy shape; stories come in batches so a large graph is never held at once."""

    async def prepare(self) -> None:
        """Make the reads of a large legacy graph fast (e.g. index its keys); idempotent, writes no data."""
        ...

    async def story_keys(self) -> list[str]:
        """Every legacy story key (ProjectCase, planning Story and Case merged), sorted."""
        ...

    async def planning(self) -> LegacyPlanning:
        """Legacy projects, epics and the edges between them."""
        ...

    async def read_stories(self, keys: Sequence[str]) -> list[LegacyStory]:
        """Every legacy record of these stories (a few round trips for the whole batch)."""
        ...

    async def orphans(self, keys: Sequence[str]) -> list[LegacyOrphan]:
        """Legacy nodes that belong to no story among `keys` (they are reported, never adopted)."""
        ...


class LegacyGraphPruner(Protocol):
    """Deletes what only the legacy layout used, once it has been adopted."""

    async def prune(self) -> dict[str, int]:
        """Delete legacy-only nodes and properties; how many of each shape went."""
        ...
