"""Which tasks, decisions and events a role gets: the selection rules shared by every read path."""

from __future__ import annotations

from context_service.domain.model import Decision, DecisionEdge, Milestone, StoryGraph, Task

RECENT_DECISION_FALLBACK = 5


def all_tasks(graph: StoryGraph) -> list[Task]:
    """Every live task, by priority then id."""
    return sorted(graph.tasks, key=lambda t: t.sort_key)


def role_tasks(graph: StoryGraph, role: str) -> list[Task]:
    """The role's live tasks, by priority then id."""
    return [t for t in all_tasks(graph) if t.role == role]


def all_decisions(graph: StoryGraph) -> list[Decision]:
    """Every live decision, in creation order then id."""
    return sorted(graph.decisions, key=lambda d: d.sort_key)


def relevant_decisions(graph: StoryGraph, role: str) -> list[Decision]:
    """Decisions influencing the role's tasks; else the most recent few."""
    task_ids = {t.task_id for t in graph.tasks if t.role == role}
    chosen = [d for d in all_decisions(graph) if task_ids.intersection(d.influences)]
    if chosen:
        return chosen
    recent = sorted(graph.decisions, key=lambda d: d.sort_key, reverse=True)[:RECENT_DECISION_FALLBACK]
    return sorted(recent, key=lambda d: d.sort_key)


def rehydration_decisions(graph: StoryGraph, role: str) -> list[Decision]:
    """Architect and qa get every decision; other roles the relevant ones."""
    if role in ("architect", "qa"):
        return all_decisions(graph)
    return relevant_decisions(graph, role)


def edges_from(graph: StoryGraph, decisions: list[Decision]) -> list[DecisionEdge]:
    """Decision-to-decision edges whose source is among `decisions`, in stable order."""
    ids = {d.decision_id for d in decisions}
    return sorted(
        (e for e in graph.decision_edges if e.src_id in ids),
        key=lambda e: (e.src_id, e.relation_type, e.dst_id),
    )


def edges_touching(graph: StoryGraph, decisions: list[Decision]) -> list[DecisionEdge]:
    """Decision-to-decision edges with either end among `decisions`."""
    ids = {d.decision_id for d in decisions}
    return sorted(
        (e for e in graph.decision_edges if e.src_id in ids or e.dst_id in ids),
        key=lambda e: (e.src_id, e.relation_type, e.dst_id),
    )


def impacted_pairs(decisions: list[Decision], tasks: list[Task]) -> list[tuple[Decision, Task]]:
    """(decision, task) pairs where a selected decision influences one of `tasks`."""
    by_id = {t.task_id: t for t in tasks}
    pairs = [(d, by_id[tid]) for d in decisions for tid in d.influences if tid in by_id]
    return sorted(pairs, key=lambda p: (p[0].decision_id, p[1].task_id))


def timeline(graph: StoryGraph, extra: tuple[Milestone, ...], limit: int) -> list[Milestone]:
    """The latest `limit` events (graph milestones, phase transitions, planning stream), oldest first."""
    events = list(graph.milestones) + list(extra)
    events += [
        Milestone(
            event_type="phase_transition",
            description=f"{t.from_phase or '-'} -> {t.to_phase}"
            + (f": {t.rationale}" if t.rationale else ""),
            ts_ms=t.ts_ms,
            actor="",
            milestone_id=t.transition_id,
        )
        for t in graph.transitions
    ]
    ordered = sorted(events, key=lambda m: (m.ts_ms, m.event_type, m.milestone_id, m.description))
    return ordered[-limit:] if limit > 0 else []
