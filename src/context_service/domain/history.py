"""Change history: which records a committed batch leaves, and how the store stamps them (pure functions).

Both graph stores call `stamp_history` inside the commit with the properties of the written nodes before and
after the write, so a record's digests, seq and version are exact on every backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from context_service.domain.model import ChangeRecord, is_live
from context_service.domain.mutations import NodeKind, WriteBatch

Props = Mapping[str, Any]
NodeKey = tuple[str, str]
# UpdateContext's entity types, plus those of the nodes only transitions, approvals and dispatches create.
ENTITY_TYPES: dict[NodeKind, str] = {
    NodeKind.STORY: "CASE",
    NodeKind.PLAN: "PLAN",
    NodeKind.TASK: "SUBTASK",
    NodeKind.DECISION: "DECISION",
    NodeKind.MILESTONE: "MILESTONE",
    NodeKind.TRANSITION: "PHASE_TRANSITION",
    NodeKind.PLAN_APPROVAL: "PLAN_APPROVAL",
    NodeKind.TASK_DISPATCH: "TASK_DISPATCH",
}
KINDS: dict[str, NodeKind] = {entity_type: kind for kind, entity_type in ENTITY_TYPES.items()}


# The story's context_version moves with every UpdateContext-style write, which records the entities it
# changed, not the story: left out of the digest (each record carries the version), so a story's digests
# chain from one CASE record to the next like every other entity's.
UNDIGESTED = frozenset({"context_version"})


def digest(props: Props | None) -> str:
    """sha256 of a node's canonical stored properties; "" when it does not exist or is soft-deleted."""
    if props is None or not is_live(str(props.get("status", ""))):
        return ""
    public = {k: v for k, v in props.items() if not k.startswith("_") and k not in UNDIGESTED}
    canonical = json.dumps(public, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def staged(batch: WriteBatch) -> tuple[ChangeRecord, ...]:
    """The use case's records, then one plain record per other story entity the batch writes.

    A plain record is kept only if the entity's digest changed (a redelivered upsert records nothing).
    """
    covered = {(r.entity_type, r.entity_id) for r in batch.history}
    extra: dict[tuple[str, str], ChangeRecord] = {}
    for m in batch.mutations:
        key = (ENTITY_TYPES.get(m.kind, ""), m.node_id)
        if key[0] and key not in covered and key not in extra:
            extra[key] = ChangeRecord(0, "", "", "", key[0], m.node_id, "", batch.timestamp)
    return (*batch.history, *extra.values())


def stamp_history(
    batch: WriteBatch,
    before: Mapping[NodeKey, Props | None],
    after: Mapping[NodeKey, Props | None],
    *,
    version: int,
    last_seq: int,
) -> tuple[ChangeRecord, ...]:
    """The batch's records stamped with version, seq (after `last_seq`), operation, digests and source."""
    if not batch.story_id:
        return ()
    explicit = len(batch.history)
    kept = [
        r
        for n, r in enumerate(_stamped(r, before, after, batch=batch) for r in staged(batch))
        if n < explicit or r.digest_before != r.digest_after  # a rewrite that changed nothing is no change
    ]
    return tuple(replace(r, version=version, seq=last_seq + n) for n, r in enumerate(kept, start=1))


def _stamped(
    r: ChangeRecord,
    before: Mapping[NodeKey, Props | None],
    after: Mapping[NodeKey, Props | None],
    *,
    batch: WriteBatch,
) -> ChangeRecord:
    kind = KINDS.get(r.entity_type)
    key = (kind.value, r.entity_id) if kind is not None else ("", "")
    was, now = digest(before.get(key)), digest(after.get(key))
    operation = r.operation or ("CREATE" if not was else "DELETE" if not now else "UPDATE")
    return replace(
        r,
        operation=operation,
        digest_before=was,
        digest_after=now,
        request_id=batch.request_id,
        source=batch.source,
        timestamp=r.timestamp or batch.timestamp,
    )
