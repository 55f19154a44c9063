"""GetGraphRelationships: a node, its neighbours (bounded depth) and the relationships among them."""

from __future__ import annotations

from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.limits import require_id
from context_service.domain.model import Neighbourhood
from context_service.ports.graph import RelationshipReader

NODE_TYPES = {"project": "Project", "epic": "Epic", "story": "Story", "task": "Task"}
DEFAULT_DEPTH = 2
MAX_DEPTH = 3
MAX_NEIGHBOURS = 500


def clamp_depth(depth: int) -> int:
    """0 (unset) -> 2; otherwise clamped to 1..3."""
    if depth == 0:
        return DEFAULT_DEPTH
    return max(1, min(MAX_DEPTH, depth))


class GetGraphRelationships:
    """Validates the node type, clamps the depth, explores."""

    def __init__(self, *, relationships: RelationshipReader) -> None:
        self._relationships = relationships

    async def execute(self, node_id: str, node_type: str, depth: int) -> Neighbourhood:
        """The neighbourhood, or NOT_FOUND."""
        node_id = require_id(node_id, "node_id")
        label = NODE_TYPES.get(node_type.strip().lower())
        if label is None:
            known = ", ".join(NODE_TYPES.values())
            raise InvalidArgument(
                f"unknown node_type '{node_type.strip()}'; known types: {known}", field="node_type"
            )
        found = await self._relationships.neighbourhood(label, node_id, clamp_depth(depth), MAX_NEIGHBOURS)
        if found is None:
            raise NotFound(label.lower(), node_id)
        return found.redacted()
