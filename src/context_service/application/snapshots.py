"""ExportStory and ImportStory: a story's snapshot document out of the stores and back in, all or nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass

from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.limits import require_id
from context_service.domain.snapshot import ImportSummary, StorySnapshot
from context_service.domain.snapshot_checks import FIELD, check_snapshot
from context_service.domain.snapshot_document import (
    FORMAT_NAME,
    canonical_json,
    from_document,
    readable_versions,
    to_document,
    upgraded,
)
from context_service.domain.text import check_decoded
from context_service.ports.graph import StoryArchive
from context_service.ports.planning import ReadModelArchive
from context_service.ports.snapshot import DocumentSchema

# Below the gRPC message limit (8 MiB by default), so an oversized document gets a clear answer.
MAX_DOCUMENT_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class ExportedStory:
    """The canonical document and the sha256 of its UTF-8 bytes."""

    document_json: str
    digest: str


class ExportStory:
    """Reads the story's subgraph, history and read-models into one canonical document."""

    def __init__(self, *, archive: StoryArchive, read_models: ReadModelArchive) -> None:
        self._archive = archive
        self._read_models = read_models

    async def execute(self, story_id: str) -> ExportedStory:
        """The document (NOT_FOUND for an unknown story)."""
        story_id = require_id(story_id, "story_id")
        subgraph = await self._archive.export_story(story_id)
        if subgraph is None:
            raise NotFound("story", story_id)
        entries = await self._read_models.export_read_models(story_id)
        # Rendering a large story takes a while (0.2 s for 7 MB): off the event loop, like an import.
        return await asyncio.to_thread(_exported, StorySnapshot(subgraph, entries))


def _exported(snapshot: StorySnapshot) -> ExportedStory:
    """The canonical document of a snapshot and the sha256 of its bytes."""
    text = canonical_json(to_document(snapshot))
    return ExportedStory(text, hashlib.sha256(text.encode("utf-8")).hexdigest())


class ImportStory:
    """Validates a whole document first, then writes the subgraph in one transaction and the read-models."""

    def __init__(
        self,
        *,
        archive: StoryArchive,
        read_models: ReadModelArchive,
        schema: DocumentSchema,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self._archive = archive
        self._read_models = read_models
        self._schema = schema
        self._max_bytes = max_document_bytes

    async def execute(self, document_json: str, *, replace: bool) -> ImportSummary:
        """What was written; INVALID_ARGUMENT (nothing written); StoryExists unless `replace`."""
        # Checking a large document takes a while: off the event loop, so other calls keep being served.
        snapshot = await asyncio.to_thread(self.parse, document_json)
        graph = snapshot.subgraph
        await self._archive.import_story(graph, replace=replace)
        await self._read_models.replace_read_models(graph.story_id, snapshot.read_models)
        version = graph.story.get("context_version", 0)
        return ImportSummary(
            story_id=graph.story_id,
            version=version if isinstance(version, int) else 0,
            nodes=1 + len(graph.nodes),
            edges=len(graph.edges),
            history_records=len(graph.history),
        )

    def parse(self, document_json: str) -> StorySnapshot:
        """The snapshot of a document passing every check, else INVALID_ARGUMENT naming the first problem."""
        size = len(document_json.encode("utf-8"))
        if size > self._max_bytes:
            raise _invalid(f"is {size} bytes, over the limit of {self._max_bytes}")
        if not document_json.strip():
            raise _invalid("is required")
        try:
            document = json.loads(document_json)
        except ValueError as exc:  # a truncated document ends here
            raise _invalid(f"is not valid JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise _invalid(f"is not a story snapshot (format must be '{FORMAT_NAME}')")
        version = document.get("format_version")
        if type(version) is not int or version not in readable_versions():
            raise _invalid(f"format_version {version!r} is not supported; readable: {readable_versions()}")
        document = upgraded(document)
        problem = self._schema.problem(document)
        if problem is not None:
            raise _invalid(problem)
        check_decoded(document_json, document, FIELD)  # the text rule: no NUL or controls reach a store
        snapshot = from_document(document)
        if document["story_id"] != snapshot.subgraph.story_id:
            raise _invalid("story_id differs from story.id")
        check_snapshot(snapshot)
        return snapshot


def _invalid(problem: str) -> InvalidArgument:
    return InvalidArgument(f"{FIELD} {problem}", field=FIELD)
