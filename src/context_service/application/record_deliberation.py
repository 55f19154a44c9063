"""RecordDeliberation: upsert a deliberation's decisions, bump the story's version once, announce it.

orchestration.deliberation.completed: decision ids are given or DEC-{task or story id}-{index}, times come
from the event, and its idempotency key is the request id, so a redelivery writes and announces nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import RequestMeta, fleet_role, owner_story
from context_service.domain.errors import InvalidArgument, NotYetKnown
from context_service.domain.limits import MAX_CHANGES, limit_text, optional_id, require_id
from context_service.domain.model import ChangeRecord, Located
from context_service.domain.mutations import Mutation, NodeKind, Scalar, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.schema import decision
from context_service.domain.timefmt import iso_from_ms
from context_service.ports.graph import NodeLocator
from context_service.ports.system import Clock

DELIBERATION_REASON = "deliberation completed"


@dataclass(frozen=True)
class DeliberatedDecision:
    """One decision of a deliberation; without an id it becomes DEC-{task or story id}-{index}."""

    decision_id: str = ""
    decision_type: str = ""
    title: str = ""
    rationale: str = ""
    affected_task_id: str = ""
    decided_by: str = ""


@dataclass(frozen=True)
class DeliberationCompleted:
    """RecordDeliberation input; without `story_id` the deliberated task's story is used."""

    task_id: str
    decisions: tuple[DeliberatedDecision, ...]
    story_id: str = ""
    role: str = ""


class RecordDeliberation:
    """Decisions influenced by the subtasks they name, with one history record each."""

    def __init__(self, *, policy: ScopePolicy, nodes: NodeLocator, commits: CommitStep, clock: Clock) -> None:
        self._policy = policy
        self._nodes = nodes
        self._commits = commits
        self._clock = clock

    async def execute(self, request: DeliberationCompleted, meta: RequestMeta | None = None) -> int:
        """Record the decisions; the story's version after the write."""
        meta = meta or RequestMeta()
        task_id = optional_id(request.task_id, "task_id")  # a story-level deliberation names no task
        if task_id:
            story_id = await owner_story(self._nodes, NodeKind.TASK, task_id, request.story_id)
        else:
            story_id = require_id(request.story_id, "story_id")
        role = fleet_role(self._policy, request.role)
        planned = decision_mutations(story_id, task_id, request.decisions, role, meta.at_ms(self._clock))
        found = await self._nodes.locate(
            [(NodeKind.STORY, story_id), *planned.affected_nodes(), *planned.decision_nodes()]
        )
        _check_known(planned, found)
        batch = WriteBatch(
            story_id,
            planned.mutations,
            bump_version=True,
            history=planned.history(),
            request_id=meta.idempotency_key,
            changed=tuple(("DECISION", m.node_id) for m in planned.mutations),
        )
        return (await self._commits.run(batch, meta)).version


def _check_known(planned: PlannedDecisions, found: Mapping[tuple[NodeKind, str], Located]) -> None:
    """The story and every affected subtask exist (else not known yet), and the subtasks are the story's."""
    story_id = planned.story_id
    if (NodeKind.STORY, story_id) not in found:
        raise NotYetKnown("story", story_id)
    for _, affected in planned.affected_nodes():
        where = found.get((NodeKind.TASK, affected))
        if where is None:
            raise NotYetKnown("task", affected)
        if not where.live_in(story_id):
            raise InvalidArgument(f"task '{affected}' is not a task of story '{story_id}'", field="task")


@dataclass(frozen=True)
class PlannedDecisions:
    """The decision upserts of one deliberation, with what to check and record around them."""

    story_id: str
    task_id: str
    role: str
    now: str
    mutations: tuple[Mutation, ...]
    affected: tuple[str, ...]

    def decision_nodes(self) -> list[tuple[NodeKind, str]]:
        """The decisions, to learn which ones exist already."""
        return [(NodeKind.DECISION, m.node_id) for m in self.mutations]

    def affected_nodes(self) -> list[tuple[NodeKind, str]]:
        """The subtasks the decisions influence (each must be a live task of the story)."""
        return [(NodeKind.TASK, t) for t in dict.fromkeys(t for t in self.affected if t)]

    def history(self) -> tuple[ChangeRecord, ...]:
        """One change record per decision (the commit step stamps CREATE or UPDATE from what was stored)."""
        return tuple(
            ChangeRecord(
                version=0,
                role=self.role,
                task_id=self.task_id,
                operation="",
                entity_type="DECISION",
                entity_id=m.node_id,
                reason=DELIBERATION_REASON,
                timestamp=self.now,
            )
            for m in self.mutations
        )


def decision_mutations(
    story_id: str, task_id: str, decisions: Sequence[DeliberatedDecision], role: str, at_ms: int
) -> PlannedDecisions:
    """Decision upserts: id given or DEC-{task or story id}-{index}; INFLUENCED_BY from the affected task."""
    if not decisions:
        raise InvalidArgument("decisions must not be empty", field="decisions")
    if len(decisions) > MAX_CHANGES:
        raise InvalidArgument(f"at most {MAX_CHANGES} decisions per deliberation", field="decisions")
    ids = [
        optional_id(d.decision_id, "decisions.id") or f"DEC-{task_id or story_id}-{index}"
        for index, d in enumerate(decisions)
    ]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("decision ids must be unique within a deliberation", field="decisions.id")
    now = iso_from_ms(at_ms)
    affected = tuple(optional_id(d.affected_task_id, "decisions.affected_subtask") for d in decisions)
    mutations = tuple(
        _decision(decision_id, d, affected_id, story_id=story_id, task_id=task_id, role=role, at_ms=at_ms)
        for decision_id, d, affected_id in zip(ids, decisions, affected, strict=True)
    )
    return PlannedDecisions(story_id, task_id, role, now, mutations, affected)


def _decision(
    decision_id: str,
    d: DeliberatedDecision,
    affected: str,
    *,
    story_id: str,
    task_id: str,
    role: str,
    at_ms: int,
) -> Mutation:
    fields: dict[str, Scalar] = {
        "title": limit_text(d.title, "decisions.title").strip() or f"Deliberation on {task_id or story_id}",
        "rationale": limit_text(d.rationale, "decisions.rationale").strip(),
        "decision_type": d.decision_type.strip().upper(),
        "status": decision.ACCEPTED,
        "decided_by": d.decided_by.strip() or role or decision.DEFAULT_DECIDED_BY,
    }
    on_create = {
        **decision.on_create(story_id, at_ms),
        "metadata": decision.metadata_json({"source": "deliberation", "task_id": task_id}),
    }
    links = decision.influenced_by([affected] if affected else [])
    return Mutation(NodeKind.DECISION, decision_id, fields=fields, on_create=on_create, links=links)
