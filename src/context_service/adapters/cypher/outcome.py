"""A commit whose acknowledgement was lost (the connection broke while committing): did it land?

Every commit statement writes its attempt id on the story and bumps the story's revision; a request with an
id also leaves a commit record. Reading those back tells a landed commit from one that never applied, so
running it again cannot apply it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from context_service.domain.mutations import CommitResult, WriteBatch
from context_service.ports.errors import CommitOutcomeUnknown


@dataclass
class Attempt:
    """One try of a commit: its id (written on the story it changes) and the story revision it expects."""

    id: str
    revision: int = 0


def read_outcome(rows: Sequence[Sequence[Any]], batch: WriteBatch, attempt: Attempt) -> CommitResult | None:
    """After a lost commit acknowledgement: the result if it landed, None if it surely did not."""
    if not rows:
        return None  # the story does not exist: the commit that would create it did not land
    landed, revision, version, phase, recorded, recorded_version, recorded_phase = rows[0]
    if landed == attempt.id:
        return CommitResult(int(version), str(phase))
    if recorded:
        return CommitResult(int(recorded_version), str(recorded_phase), True)
    if batch.request_id or int(revision) == attempt.revision:
        return None  # the request's record or the revision bump would be there: safe to run again
    raise CommitOutcomeUnknown(
        "the commit may have been applied and another write followed; read the story before retrying",
        backend="cypher",
        operation="commit",
    )
