"""Planning read-model ports (Valkey in production; key formats shared with the fleet)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from context_service.domain.model import PlanningReadModel
from context_service.domain.snapshot import ReadModelEntry


class PlanningReader(Protocol):
    """Reads a story's planning read-models in one batched round trip."""

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel:
        """Spec, draft plan, planning stream events and summaries (story and per role)."""
        ...


class SpecWriter(Protocol):
    """Writes the story spec read-model (`swe:case:{id}:spec`)."""

    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None:
        """Merge these fields into the story spec JSON (created when absent)."""
        ...


class HandoffWriter(Protocol):
    """Persists rehydration bundles with a TTL."""

    async def save_handoff(
        self, story_id: str, generated_at_ms: int, bundle: Mapping[str, Any], ttl_seconds: int
    ) -> None:
        """Store the bundle under its timestamp key and the `latest` pointer."""
        ...


class ReadModelArchive(Protocol):
    """Reads and replaces every read-model key of a story (`swe:case:{id}:*`) with values and expiry."""

    async def export_read_models(self, story_id: str) -> tuple[ReadModelEntry, ...]:
        """Every unexpired key of the story, sorted by key."""
        ...

    async def replace_read_models(self, story_id: str, entries: tuple[ReadModelEntry, ...]) -> None:
        """Delete the story's keys and write `entries` (expired ones left out); atomic on a single node."""
        ...
