"""A commit whose acknowledgement was lost (the connection broke while committing): did it land?

Every commit statement writes its attempt id on the story and bumps the story's revision; a request with an
id also leaves a commit record. Reading those back tells a landed commit from one that never applied, so
running it again cannot apply it twice.
"""

from __future__ import annotations

import json
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


def replay_of(version: Any, phase: Any, changed: Any, event_key: Any) -> CommitResult | None:
    """The commit record of a request already applied (None when there is none)."""
    if version is None:
        return None
    pairs = tuple((str(t), str(i)) for t, i in json.loads(changed or "[]"))
    text = "" if phase is None else str(phase)
    return CommitResult(int(version), text, replayed=True, changed=pairs, event_key=str(event_key or ""))


def read_outcome(rows: Sequence[Sequence[Any]], batch: WriteBatch, attempt: Attempt) -> CommitResult | None:
    """After a lost commit acknowledgement: the result if it landed, None if it surely did not."""
    if not rows:
        return None  # the story does not exist: the commit that would create it did not land
    landed, revision, version, phase, recorded = rows[0]
    if landed == attempt.id:
        return CommitResult(int(version), str(phase), changed=batch.changed, event_key=batch.event_key)
    if recorded is not None:
        return replay_of(*recorded)
    if batch.request_id or int(revision) == attempt.revision:
        return None  # the request's record or the revision bump would be there: safe to run again
    raise CommitOutcomeUnknown(
        "the commit may have been applied and another write followed; read the story before retrying",
        backend="cypher",
        operation="commit",
    )
