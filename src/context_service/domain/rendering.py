"""Render the sections a role may see: each scope becomes one section with a fixed heading line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from context_service.domain import selection as sel
from context_service.domain.model import Decision, PlanningReadModel, StoryGraph, Task
from context_service.domain.redaction import redact
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase, Scope

MILESTONE_LIMIT = 10
SUMMARY_LIMIT = 800
NONE_LINE = "- none"


@dataclass(frozen=True)
class Section:
    """One rendered section; `drop_rank` orders budget cuts (lowest first), None = never dropped."""

    name: str
    lines: tuple[str, ...]
    drop_rank: int | None

    @property
    def heading(self) -> str:
        """The section's first line."""
        return self.lines[0]

    @property
    def text(self) -> str:
        """The section as text: its heading line then its body."""
        return "\n".join(self.lines)


@dataclass(frozen=True)
class RenderInput:
    """Everything one GetContext render needs."""

    graph: StoryGraph
    planning: PlanningReadModel
    role: str
    phase: Phase
    scopes: tuple[Scope, ...]
    focus: Task | None = None


def render_sections(data: RenderInput) -> list[Section]:
    """Redacted sections for the granted scopes in policy order; the current subtask right after the case."""
    sections: list[Section] = []
    for scope in data.scopes:
        sections.append(_RENDERERS[scope](data))
        if scope is Scope.CASE_HEADER and data.focus is not None:
            sections.append(_current_subtask(data, data.focus))
    if data.focus is not None and Scope.CASE_HEADER not in data.scopes:
        sections.insert(0, _current_subtask(data, data.focus))
    return [_redacted(s) for s in sections]


def _redacted(section: Section) -> Section:
    """Redaction runs over the whole section text, so multi-line secrets (PEM blocks) are caught."""
    return Section(section.name, tuple(redact(section.text).split("\n")), section.drop_rank)


def _section(heading: str, body: list[str], rank: int | None) -> Section:
    return Section(name=heading.rstrip(":"), lines=(heading, *(body or [NONE_LINE])), drop_rank=rank)


def _case(data: RenderInput) -> Section:
    story = data.graph.story
    heading = f"Case: {story.story_id} — {story.title}"
    body = [f"Status: {story.status} · Phase: {story.current_phase}"]
    if story.description:
        body.append(f"Description: {story.description}")
    return Section(name="Case", lines=(heading, *body), drop_rank=None)


def _plan(data: RenderInput) -> Section:
    tasks = data.graph.tasks
    done = sum(1 for t in tasks if t.is_done)
    progress = f"{done}/{len(tasks)} subtasks done"
    plan = data.graph.latest_plan()
    draft = data.planning.draft_plan
    if plan is not None:
        heading = f"Plan: {plan.plan_id} v{plan.version} · status {plan.status} · {progress}"
        body = [f"Rationale: {plan.rationale}"] if plan.rationale else []
    elif draft is not None:
        plan_id = str(draft.get("plan_id") or "draft")
        heading = f"Plan: {plan_id} (draft) · status {draft.get('status') or 'DRAFT'} · {progress}"
        body = [f"Rationale: {draft['rationale']}"] if draft.get("rationale") else []
    else:
        heading = f"Plan: none · {progress}"
        body = []
    return Section(name="Plan", lines=(heading, *body), drop_rank=5)


def _task_full(task: Task) -> list[str]:
    facts = [f"role: {task.role or '-'}"]
    if task.priority > 0:
        facts.append(f"priority: {task.priority}")
    if task.dependencies:
        facts.append("depends on: " + ", ".join(task.dependencies))
    lines = [f"- {task.task_id} [{task.status}] {task.title} ({'; '.join(facts)})"]
    if task.description:
        lines.append(f"  {task.description}")
    return lines


def _task_min(task: Task) -> list[str]:
    return [f"- {task.task_id} [{task.status}] {task.title}"]


def _tasks_section(heading: str, tasks: list[Task], line: Callable[[Task], list[str]], rank: int) -> Section:
    return _section(heading, [text for t in tasks for text in line(t)], rank)


def _subtasks_role(data: RenderInput) -> Section:
    return _tasks_section("Your subtasks:", sel.role_tasks(data.graph, data.role), _task_full, 6)


def _subtasks_role_min(data: RenderInput) -> Section:
    return _tasks_section("Your subtasks:", sel.role_tasks(data.graph, data.role), _task_min, 6)


def _subtasks_all(data: RenderInput) -> Section:
    return _tasks_section("All subtasks:", sel.all_tasks(data.graph), _task_full, 4)


def _subtasks_all_min(data: RenderInput) -> Section:
    return _tasks_section("All subtasks:", sel.all_tasks(data.graph), _task_min, 4)


def _decision_full(d: Decision) -> list[str]:
    facts = [d.decision_type or "-", f"decided by {d.decided_by}"]
    if d.decided_at:
        facts.append(f"on {d.decided_at}")
    lines = [f"- {d.decision_id} [{d.status}] {d.title} ({'; '.join(facts)})"]
    if d.rationale:
        lines.append(f"  Rationale: {d.rationale}")
    if d.alternatives_considered:
        lines.append(f"  Alternatives: {d.alternatives_considered}")
    if d.metadata:
        lines.append("  Metadata: " + "; ".join(f"{k}={v}" for k, v in sorted(d.metadata.items())))
    return lines


def _decision_min(d: Decision) -> list[str]:
    return [f"- {d.decision_id} [{d.status}] {d.title}"]


def _decisions_relevant(data: RenderInput) -> Section:
    chosen = sel.relevant_decisions(data.graph, data.role)
    return _section("Relevant decisions:", [x for d in chosen for x in _decision_full(d)], 3)


def _decisions_global(data: RenderInput) -> Section:
    chosen = sel.all_decisions(data.graph)
    return _section("Decisions:", [x for d in chosen for x in _decision_full(d)], 3)


def _decisions_global_min(data: RenderInput) -> Section:
    chosen = sel.all_decisions(data.graph)
    return _section("Decisions:", [x for d in chosen for x in _decision_min(d)], 3)


def _deps_relevant(data: RenderInput) -> Section:
    tasks = sel.role_tasks(data.graph, data.role)
    body = [f"- {t.task_id} depends on {dep}" for t in tasks for dep in t.dependencies]
    decisions = sel.relevant_decisions(data.graph, data.role)
    body += [f"- {t.task_id} influenced by {d.decision_id}" for d, t in sel.impacted_pairs(decisions, tasks)]
    body += [f"- {e.src_id} {e.relation_type} {e.dst_id}" for e in sel.edges_touching(data.graph, decisions)]
    return _section("Dependencies:", body, 2)


def _deps_decisions(data: RenderInput) -> Section:
    edges = sel.edges_from(data.graph, sel.all_decisions(data.graph))
    return _section(
        "Decision dependencies:", [f"- {e.src_id} {e.relation_type} {e.dst_id}" for e in edges], 2
    )


def _milestones(data: RenderInput) -> Section:
    events = sel.timeline(data.graph, data.planning.timeline, MILESTONE_LIMIT)
    body = [
        f"- {iso_from_ms(m.ts_ms)} {m.event_type}: {m.description}" + (f" ({m.actor})" if m.actor else "")
        for m in events
    ]
    return _section("Milestones:", body, 1)


def _summary(data: RenderInput) -> Section:
    # Redact before cutting: a cut through a secret would leave a fragment no pattern recognises.
    text = redact(data.planning.summary_for(data.role))
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 1] + "…"
    return _section("Last summary:", text.splitlines() if text else [], 0)


def _current_subtask(data: RenderInput, task: Task) -> Section:
    heading = f"Current subtask: {task.task_id} — {task.title}"
    body = [f"Status: {task.status} · Role: {task.role or '-'} · Priority: {task.priority or '-'}"]
    body.append("Depends on: " + (", ".join(task.dependencies) if task.dependencies else "nothing"))
    if task.description and _may_see_description(data, task):
        body.append(f"Description: {task.description}")
    origin = task.origin
    if origin is not None and not origin.is_empty():
        facts = [
            ("decided by", origin.decided_by),
            ("reason", origin.decision_reason),
            ("council feedback", origin.council_feedback),
            ("source", origin.source),
            ("date", origin.decided_at),
        ]
        body.append("Why this task exists: " + " · ".join(f"{k}: {v}" for k, v in facts if v))
    return Section(name="Current subtask", lines=(heading, *body), drop_rank=None)


def _may_see_description(data: RenderInput, task: Task) -> bool:
    """Full task text only where a full subtask scope already covers the task (compact scopes never)."""
    if Scope.SUBTASKS_ALL in data.scopes:
        return True
    return task.role == data.role and Scope.SUBTASKS_ROLE in data.scopes


_RENDERERS: dict[Scope, Callable[[RenderInput], Section]] = {
    Scope.CASE_HEADER: _case,
    Scope.PLAN_HEADER: _plan,
    Scope.SUBTASKS_ROLE: _subtasks_role,
    Scope.SUBTASKS_ROLE_MIN: _subtasks_role_min,
    Scope.SUBTASKS_ALL: _subtasks_all,
    Scope.SUBTASKS_ALL_MIN: _subtasks_all_min,
    Scope.DECISIONS_RELEVANT_ROLE: _decisions_relevant,
    Scope.DECISIONS_GLOBAL: _decisions_global,
    Scope.DECISIONS_GLOBAL_MIN: _decisions_global_min,
    Scope.DEPS_RELEVANT: _deps_relevant,
    Scope.DEPS_DECISIONS: _deps_decisions,
    Scope.MILESTONES: _milestones,
    Scope.SUMMARY_LAST: _summary,
}
