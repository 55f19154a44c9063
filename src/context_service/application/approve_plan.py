"""ApprovePlan: set a plan APPROVED and record the approval (planning.plan.approved)."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, owner_story
from context_service.domain.limits import limit_text, require_id
from context_service.domain.mutations import Mutation, NodeKind, WriteBatch
from context_service.domain.schema import plan, plan_approval
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock


@dataclass(frozen=True)
class PlanApproved:
    """ApprovePlan input; without `story_id` the plan must already be known."""

    plan_id: str
    story_id: str = ""
    approved_by: str = ""
    comment: str = ""


class ApprovePlan:
    """The plan (created when missing) set APPROVED, and one PlanApproval node pointing at it."""

    def __init__(self, *, nodes: NodeLocator, commits: CommitStep, clock: Clock) -> None:
        self._nodes = nodes
        self._commits = commits
        self._clock = clock

    async def execute(self, request: PlanApproved, meta: RequestMeta | None = None) -> None:
        """Record the approval."""
        meta = meta or RequestMeta()
        plan_id = require_id(request.plan_id, "plan_id")
        story_id = await owner_story(self._nodes, NodeKind.PLAN, plan_id, request.story_id)
        at_ms = meta.at_ms(self._clock)
        on_create = plan.on_create(story_id, at_ms)
        approved = Mutation(NodeKind.PLAN, plan_id, fields={"status": plan.APPROVED}, on_create=on_create)
        comment = limit_text(request.comment, "comment")
        approval = Mutation(
            NodeKind.PLAN_APPROVAL,
            plan_approval.node_id(plan_id),
            fields=plan_approval.fields(story_id, plan_id, request.approved_by, comment, at_ms),
            links=plan_approval.links(plan_id),
        )
        await self._commits.run(WriteBatch(story_id, (approved, approval)), meta)
