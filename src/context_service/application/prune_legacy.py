"""PruneLegacy: delete what only the legacy layout used, and only after an adoption run finished cleanly."""

from __future__ import annotations

from context_service.application.adopt_legacy import CHECKPOINT_KEY, COMPLETE
from context_service.domain.errors import FailedPrecondition
from context_service.ports.kv import KeyValueStore
from context_service.ports.legacy import LegacyGraphPruner


class PruneLegacy:
    """Refuses unless the checkpoint says the last adoption run completed without failures."""

    def __init__(self, *, pruner: LegacyGraphPruner, checkpoints: KeyValueStore) -> None:
        self._pruner = pruner
        self._checkpoints = checkpoints

    async def execute(self) -> dict[str, int]:
        """Delete legacy-only nodes and properties; how many of each went."""
        checkpoint = await self._checkpoints.get(CHECKPOINT_KEY)
        if checkpoint is None or checkpoint.get("status") != COMPLETE:
            state = "no adoption run" if checkpoint is None else f"the last run is {checkpoint.get('status')}"
            raise FailedPrecondition(f"legacy nodes are pruned only after a complete adoption run ({state})")
        removed = await self._pruner.prune()
        await self._checkpoints.set(CHECKPOINT_KEY, {**checkpoint, "pruned": removed})
        return removed
