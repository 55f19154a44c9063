"""The legacy database of the adoption tests and goldens: both eras, every legacy shape, and the defects real
databases hold (a story under two labels with different titles, decisions without a title, string
timestamps, a dangling AFFECTS to a subtask no plan holds, orphans)."""

# ruff: noqa: E501 — the fixture rows read best as one row per line

from __future__ import annotations

from tests.support.legacy_graph import LegacyGraph, sept_iso, sept_ms


def fixture_graph() -> LegacyGraph:
    """L-100 (newer era, under ProjectCase and Story), L-101 (planning only), C-200 (older era), orphans."""
    g = LegacyGraph()
    _planning(g)
    _checkout_story(g)
    _checkout_decisions(g)
    _checkout_timeline(g)
    _planning_only_story(g)
    _older_era_case(g)
    _orphans(g)
    return g


# fmt: off
def _planning(g: LegacyGraph) -> None:
    g.node("Project", "P-LEG", project_id="P-LEG", name="Legacy storefront", description="Shop rebuilt in 2025", status="active", owner="olga", created_at_ms=str(sept_ms(1)))
    g.node("Epic", "E-LEG", epic_id="E-LEG", title="Checkout", description="Paying for a basket", status="active", created_at_ms=sept_ms(1, 10))
    g.node("Epic", "E-LOST", epic_id="E-LOST", title="An epic no project holds", status="active", created_at_ms=sept_ms(1, 11))
    g.edge("P-LEG", "HAS_EPIC", "E-LEG")


def _checkout_story(g: LegacyGraph) -> None:
    """L-100 under ProjectCase and Story with different titles; story-era and plan-era tasks."""
    pc = g.node("ProjectCase", "pc:L-100", id="L-100", story_id="L-100", title="Checkout with saved cards", description="Returning buyers pay with a stored card", status="in_progress", current_phase="build", created_at=sept_iso(2), updated_at=sept_iso(5))
    st = g.node("Story", "st:L-100", story_id="L-100", epic_id="E-LEG", name="Saved-card checkout")
    g.edge("E-LEG", "CONTAINS_STORY", st)
    plan = g.node("PlanVersion", "PV-100-1", id="PV-100-1", plan_id="PV-100-1", version="2", status="approved", story_id="L-100", author_id="arch-1", rationale="Tokenise first, then the UI", created_at_ms=str(sept_ms(3)))
    g.edge(st, "HAS_PLAN", plan)
    t1 = g.node("Task", "L-100-T1", task_id="L-100-T1", story_id="L-100", title="Card vault client", description="Talk to the PSP vault", role="DEV", priority=1, estimated_hours="6", status="in_progress", created_at=sept_iso(3, 10), updated_at=sept_iso(4))
    t2 = g.node("Task", "L-100-T2", task_id="L-100-T2", story_id="L-100", title="Saved-card picker", description="", role="frontend", priority="2", estimated_hours=3.5, status="todo", created_at=sept_iso(3, 11), updated_at=sept_iso(3, 11))
    t3 = g.node("Task", "L-100-T3", task_id="L-100-T3", plan_id="PV-100-1", title="Checkout e2e tests", type="testing", status="todo")
    for task in (t1, t2):
        g.edge(task, "BELONGS_TO", pc)
    g.edge(t3, "BELONGS_TO_PLAN", plan)
    g.edge(t2, "DEPENDS_ON", t1)
    g.edge(t3, "DEPENDS_ON", t2)
    g.edge(t3, "DEPENDS_ON", t1)
    legacy_plan = g.node("Plan", "plan:PV-100-1", plan_id="PV-100-1")
    g.edge(legacy_plan, "HAS_TASK", t3, decided_by="council", decision_reason="Regressions hide in checkout", council_feedback="add a refund path later", decided_at=sept_iso(3, 12), source="planning")


def _checkout_decisions(g: LegacyGraph) -> None:
    """A titled decision in the plan, and two with only kind and summary (found through a task and case_id)."""
    d1 = g.node("Decision", "D-100-1", id="D-100-1", title="Tokenise cards at the PSP", rationale="Keeps card data out of scope for PCI", status="accepted", created_at_ms=str(sept_ms(3, 13)), author_id="arch-1", story_id="L-100")
    d2 = g.node("Decision", "D-100-2", id="D-100-2", kind="architecture", summary="Use an outbox for payment events\nso a crash never loses a capture")
    d3 = g.node("Decision", "D-100-3", id="D-100-3", kind="process", summary="Feature flag per market", case_id="L-100")
    g.edge("PV-100-1", "CONTAINS_DECISION", d1)
    g.edge("L-100-T1", "INFLUENCED_BY", d1)
    g.edge("L-100-T1", "INFLUENCED_BY", d2)
    g.edge(d2, "DEPENDS_ON", d1)
    g.edge(d3, "GOVERNS", d1)
    actor = g.node("Actor", "actor:arch-1", id="arch-1", name="Ana (architect)")
    g.edge(d1, "AUTHORED_BY", actor)


def _checkout_timeline(g: LegacyGraph) -> None:
    """Milestones (one timestamp unreadable), transitions of both spellings, an approval and a dispatch."""
    g.node("Event", "EV-100-1", id="EV-100-1", case_id="L-100", event_type="kickoff", description="Story kicked off", timestamp_ms=str(sept_ms(2, 10)))
    g.node("Event", "EV-100-2", id="EV-100-2", case_id="L-100", event_type="demo", description="Vault client demo", timestamp_ms=sept_ms(4, 15))
    g.node("Event", "EV-100-3", id="EV-100-3", case_id="L-100", event_type="note", description="Timestamp the legacy could not parse", timestamp_ms="last tuesday")
    g.edge("pc:L-100", "HAS_PHASE", g.node("PhaseTransition", "pt:1", story_id="L-100", from_phase="DESIGN", to_phase="BUILD", timestamp=sept_iso(3, 14), rationale="plan approved"))
    g.edge("pc:L-100", "HAS_PHASE", g.node("PhaseTransition", "pt:2", story_id="L-100", from_phase="design", to_phase="build", transitioned_at=str(sept_ms(3, 15))))
    g.node("PlanApproval", "pa:1", id=f"PV-100-1:{sept_ms(3, 14)}", plan_id="PV-100-1", approved_by="po-1", comment="ship it", timestamp=sept_ms(3, 14))
    g.node("TaskDispatch", "td:1", id=f"L-100-T1:{sept_ms(4)}", task_id="L-100-T1", agent_id="agent-dev-7", role="DEVELOPER", timestamp=str(sept_ms(4)))


def _planning_only_story(g: LegacyGraph) -> None:
    """L-101: known only from planning events (a Story node with a name, under an epic no project holds)."""
    st = g.node("Story", "st:L-101", story_id="L-101", epic_id="E-LOST", name="Wishlist sharing")
    g.edge("E-LOST", "CONTAINS_STORY", st)


def _older_era_case(g: LegacyGraph) -> None:
    """C-200: Case, PlanVersion with case_id, Subtasks, decisions with only kind and summary, AFFECTS."""
    case = g.node("Case", "C-200", id="C-200", name="Invoice per tenant")
    plan = g.node("PlanVersion", "PV-200-1", id="PV-200-1", version=1, case_id="C-200")
    g.edge(case, "HAS_PLAN", plan)
    s1 = g.node("Subtask", "C-200-S1", id="C-200-S1", title="Split invoice numbering", type="development")
    s2 = g.node("Subtask", "C-200-S2", id="C-200-S2", title="Tenant header in PDFs", type="development")
    for sub in (s1, s2):
        g.edge(plan, "HAS_SUBTASK", sub)
    missing = g.node("Subtask", "C-200-S9", id="C-200-S9")
    d1 = g.node("Decision", "D-200-1", id="D-200-1", kind="design", summary="One invoice sequence per tenant")
    d2 = g.node("Decision", "D-200-2", id="D-200-2", title="Sequences live in Postgres", rationale="Gap-free numbers need a transaction", status="accepted", created_at_ms="2026-09-06T08:00:00Z", case_id="C-200")
    g.edge(plan, "CONTAINS_DECISION", d1)
    g.edge(d1, "AFFECTS", s1)
    g.edge(d1, "AFFECTS", missing)
    g.edge(d2, "SUPERSEDES", d1)
    g.edge(d2, "RELATES_TO", d1)
    g.node("Event", "EV-200-1", id="EV-200-1", case_id="C-200", event_type="created", description="Case opened", timestamp_ms=str(sept_ms(6) // 1000))


def _orphans(g: LegacyGraph) -> None:
    g.node("Decision", "D-ORPHAN", id="D-ORPHAN", kind="idea", summary="Maybe crypto payments")
    g.node("Task", "T-ORPHAN", task_id="T-ORPHAN", title="Nobody owns me")
    g.node("Event", "EV-ORPHAN", id="EV-ORPHAN", case_id="C-999", event_type="note", description="For a case that is gone", timestamp_ms=sept_ms(7))
# fmt: on
