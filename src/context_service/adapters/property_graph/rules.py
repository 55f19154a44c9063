"""The commit rules, in one pure function every graph store calls on what a batch touches, before writing.

Missing story, phase precondition, ownership and dangling links are decided here once, on a snapshot the store
read (the memory store from its dicts, the Cypher adapter from its preflight query), so every backend refuses
the same batches with the same port errors and writes nothing when it does.
"""

from __future__ import annotations

from collections.abc import Mapping

from context_service.domain.mutations import STORY_EDGES, NodeKind, WriteBatch
from context_service.ports.errors import DanglingLink, OwnershipConflict, PreconditionFailed, StoryMissing

NodeKey = tuple[str, str]
STORY = NodeKind.STORY.value


def check_commit(batch: WriteBatch, story_phase: str | None, owners: Mapping[NodeKey, str]) -> None:
    """Raise the first rule the batch breaks.

    `story_phase`: the story's current phase, None when it does not exist. `owners`: every existing node the
    batch mutates or links to, with the story that owns it ("" for nodes outside stories).
    """
    creates_story = any(m.kind is NodeKind.STORY for m in batch.mutations)
    if batch.story_id and story_phase is None and not creates_story:
        raise StoryMissing(batch.story_id)
    if batch.expect_phase is not None and (story_phase or "") != batch.expect_phase:
        raise PreconditionFailed(batch.story_id, actual=story_phase or "", expected=batch.expect_phase)
    known = dict(owners)
    if story_phase is not None:
        known[(STORY, batch.story_id)] = batch.story_id
    for m in batch.mutations:
        key = (m.kind.value, m.node_id)
        owner = known.get(key)
        # A node no story owns ("") was left by the legacy service: the story that writes it adopts it.
        if owner and m.kind in STORY_EDGES and owner != batch.story_id:
            raise OwnershipConflict(m.kind.value, m.node_id, owner)
        known[key] = str({**m.on_create, **m.fields}.get("story_id", owner or ""))
        if m.kind in STORY_EDGES and (STORY, batch.story_id) not in known:
            raise DanglingLink(STORY, batch.story_id)
        for link in m.links:
            if (link.target_kind.value, link.target_id) not in known:
                raise DanglingLink(link.target_kind.value, link.target_id)
