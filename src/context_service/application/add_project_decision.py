"""AddProjectDecision: store a decision for a story, linked to the tasks it influences."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, locate_tasks
from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import MAX_METADATA_ENTRIES, limit_text, require_id, require_text
from context_service.domain.mutations import Mutation, NodeKind, Scalar, WriteBatch
from context_service.domain.schema import decision
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock, IdGenerator


@dataclass(frozen=True)
class DecisionRequest:
    """AddProjectDecision input."""

    story_id: str
    decision_type: str
    title: str
    rationale: str = ""
    alternatives_considered: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


class AddProjectDecision:
    """Creates a Decision node with its rationale, alternatives and metadata."""

    def __init__(self, *, nodes: NodeLocator, commits: CommitStep, ids: IdGenerator, clock: Clock) -> None:
        self._nodes = nodes
        self._commits = commits
        self._ids = ids
        self._clock = clock

    async def execute(self, request: DecisionRequest, meta: RequestMeta | None = None) -> str:
        """The new decision's id."""
        story_id = require_id(request.story_id, "story_id")
        title = require_text(request.title, "title")
        if len(request.metadata) > MAX_METADATA_ENTRIES:
            raise InvalidArgument(f"at most {MAX_METADATA_ENTRIES} metadata entries", field="metadata")
        metadata = {k: limit_text(v, f"metadata.{k}") for k, v in request.metadata.items()}
        task_ids = list(
            dict.fromkeys(t.strip() for t in metadata.get("task_ids", "").split(",") if t.strip())
        )
        tasks = await locate_tasks(self._nodes, story_id, task_ids)
        missing = [t for t in task_ids if t not in tasks or not tasks[t].live_in(story_id)]
        if missing:
            raise InvalidArgument(
                "task_ids not in this story: " + ", ".join(missing), field="metadata.task_ids"
            )
        decision_type = request.decision_type.strip().upper()
        new_id = decision.new_id(decision_type, self._ids.hex(6))
        fields = _decision_fields(
            request, story_id, title, decision_type, metadata=metadata, now_ms=self._clock.now_ms()
        )
        links = decision.influenced_by(task_ids)
        mutation = Mutation(NodeKind.DECISION, new_id, on_create=fields, links=links)
        await self._commits.run(WriteBatch(story_id, (mutation,)), meta or RequestMeta())
        return new_id


def _decision_fields(
    request: DecisionRequest,
    story_id: str,
    title: str,
    decision_type: str,
    *,
    metadata: Mapping[str, str],
    now_ms: int,
) -> dict[str, Scalar]:
    """A new, accepted decision; decided_by from metadata role or winner."""
    return {
        **decision.on_create(story_id, now_ms),
        "title": title,
        "rationale": limit_text(request.rationale, "rationale").strip(),
        "status": decision.ACCEPTED,
        "decision_type": decision_type,
        "alternatives_considered": limit_text(
            request.alternatives_considered, "alternatives_considered"
        ).strip(),
        "decided_by": metadata.get("role") or metadata.get("winner") or decision.DEFAULT_DECIDED_BY,
        "metadata": decision.metadata_json(dict(metadata)),
    }
