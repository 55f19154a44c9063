"""Rehydration packs: the per-role context bundle of RehydrateSession (02 §2.5)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from context_service.domain import selection as sel
from context_service.domain.model import (
    Decision,
    DecisionEdge,
    Milestone,
    PlanningReadModel,
    StoryGraph,
    Task,
)
from context_service.domain.redaction import redact

ARCHITECT_BASE_BUDGET = 8192
DEFAULT_BASE_BUDGET = 4096
BUDGET_GROWTH_CAP = 4096


@dataclass(frozen=True)
class CaseHeader:
    """The story as the pack shows it."""

    case_id: str
    title: str
    description: str
    status: str
    created_at: str
    created_by: str


@dataclass(frozen=True)
class PlanHeader:
    """The latest plan and the story's progress."""

    plan_id: str
    version: int
    status: str
    total_subtasks: int
    completed_subtasks: int


@dataclass(frozen=True)
class RolePack:
    """Everything one role needs to resume work on a story."""

    role: str
    case_header: CaseHeader
    plan_header: PlanHeader
    subtasks: tuple[Task, ...]
    decisions: tuple[Decision, ...]
    decision_deps: tuple[DecisionEdge, ...]
    impacted: tuple[tuple[str, str, str], ...]
    milestones: tuple[Milestone, ...]
    last_summary: str
    token_budget_hint: int


@dataclass(frozen=True)
class PackOptions:
    """What the caller asked to include."""

    include_timeline: bool
    include_summaries: bool
    timeline_events: int


@dataclass(frozen=True)
class StoryStats:
    """Whole-story counts reported beside the packs."""

    decisions: int
    decision_edges: int
    impacts: int


def case_header(graph: StoryGraph) -> CaseHeader:
    """The pack's case header."""
    s = graph.story
    return CaseHeader(
        s.story_id, redact(s.title), redact(s.description), s.status, s.created_at, s.created_by
    )


def plan_header(graph: StoryGraph, planning: PlanningReadModel) -> PlanHeader:
    """The latest plan version (or the draft plan) with subtask progress."""
    total = len(graph.tasks)
    done = sum(1 for t in graph.tasks if t.is_done)
    plan = graph.latest_plan()
    if plan is not None:
        return PlanHeader(plan.plan_id, plan.version, plan.status, total, done)
    draft = planning.draft_plan or {}
    raw_version = draft.get("version", 0)
    version = raw_version if isinstance(raw_version, int) else 0
    plan_id = str(draft.get("plan_id", "")) if draft else ""
    status = str(draft.get("status", "DRAFT")) if draft else ""
    return PlanHeader(plan_id, version, status, total, done)


def token_budget_hint(role: str, subtasks: int, decisions: int) -> int:
    """Base budget for the role plus growth with the pack's size, capped."""
    base = ARCHITECT_BASE_BUDGET if role == "architect" else DEFAULT_BASE_BUDGET
    return base + min(BUDGET_GROWTH_CAP, 256 * subtasks + 128 * decisions)


# `redact` returns the very text it was given when it holds no secret: then the entity is kept as it is
# (`replace` builds a new frozen dataclass, which costs more than the redaction itself).


def _clean_task(task: Task) -> Task:
    title, description = redact(task.title), redact(task.description)
    if title is task.title and description is task.description:
        return task
    return replace(task, title=title, description=description)


def _clean_decision(decision: Decision) -> Decision:
    title, rationale = redact(decision.title), redact(decision.rationale)
    if title is decision.title and rationale is decision.rationale:
        return decision
    return replace(decision, title=title, rationale=rationale)


def _clean_milestone(milestone: Milestone) -> Milestone:
    description = redact(milestone.description)
    return milestone if description is milestone.description else replace(milestone, description=description)


def build_pack(graph: StoryGraph, planning: PlanningReadModel, role: str, options: PackOptions) -> RolePack:
    """One role's pack from data loaded once for all roles; free text is redacted as in GetContext."""
    subtasks = [_clean_task(t) for t in sel.role_tasks(graph, role)]
    decisions = [_clean_decision(d) for d in sel.rehydration_decisions(graph, role)]
    impacted = tuple((d.decision_id, t.task_id, t.title) for d, t in sel.impacted_pairs(decisions, subtasks))
    milestones = (
        sel.timeline(graph, planning.timeline, options.timeline_events) if options.include_timeline else []
    )
    return RolePack(
        role=role,
        case_header=case_header(graph),
        plan_header=plan_header(graph, planning),
        subtasks=tuple(subtasks),
        decisions=tuple(decisions),
        decision_deps=tuple(sel.edges_from(graph, decisions)),
        impacted=impacted,
        milestones=tuple(_clean_milestone(m) for m in milestones),
        last_summary=redact(planning.summary_for(role)) if options.include_summaries else "",
        token_budget_hint=token_budget_hint(role, len(subtasks), len(decisions)),
    )


def story_stats(graph: StoryGraph) -> StoryStats:
    """Decisions, decision edges and decision->task impacts of the whole story."""
    live_tasks = {t.task_id for t in graph.tasks}
    impacts = sum(1 for d in graph.decisions for t in d.influences if t in live_tasks)
    return StoryStats(len(graph.decisions), len(graph.decision_edges), impacts)
