"""Role and phase isolation over real gRPC: each agent sees exactly the sections its policy grants."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from context_service.adapters.policy_file import load_policy
from context_service.domain.vocabulary import Phase, Scope
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.scenario import SeededStory, build_story
from tests.support.harness import Service, running_service

STORY_ID = "ISO-ROLES-1"
TAG = "q7f3x"
POLICY = load_policy()
PAIRS = sorted(((role, phase.value) for phase, role in POLICY.grants), key=lambda p: (p[1], p[0]))
PAIR_IDS = [f"{role}-{phase}" for role, phase in PAIRS]

HEADING_OF = {
    Scope.CASE_HEADER: "Case:",
    Scope.PLAN_HEADER: "Plan:",
    Scope.SUBTASKS_ROLE: "Your subtasks:",
    Scope.SUBTASKS_ROLE_MIN: "Your subtasks:",
    Scope.SUBTASKS_ALL: "All subtasks:",
    Scope.SUBTASKS_ALL_MIN: "All subtasks:",
    Scope.DECISIONS_RELEVANT_ROLE: "Relevant decisions:",
    Scope.DECISIONS_GLOBAL: "Decisions:",
    Scope.DECISIONS_GLOBAL_MIN: "Decisions:",
    Scope.DEPS_RELEVANT: "Dependencies:",
    Scope.DEPS_DECISIONS: "Decision dependencies:",
    Scope.MILESTONES: "Milestones:",
    Scope.SUMMARY_LAST: "Last summary:",
}
ALL_HEADINGS = (*dict.fromkeys(HEADING_OF.values()), "Current subtask:")


def granted(role: str, phase: str) -> tuple[Scope, ...]:
    """The scopes the shipped policy grants the pair."""
    return POLICY.grants[(Phase(phase), role)]


def headings(block: str) -> list[str]:
    """The section heading lines of a context block, in order."""
    return [h for line in block.split("\n") for h in ALL_HEADINGS if line.startswith(h)]


def section(block: str, heading: str) -> list[str]:
    """The lines of one section (heading excluded), up to the blank line that ends it."""
    lines = block.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    body: list[str] = []
    for line in lines[start + 1 :]:
        if not line:
            break
        body.append(line)
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded() -> AsyncIterator[tuple[Service, SeededStory]]:
    """One service with one fully populated story, shared by the whole module (read-only tests)."""
    async with running_service() as svc:
        yield svc, await build_story(svc, STORY_ID, TAG)


async def get_context(svc: Service, role: str, phase: str, subtask_id: str = "") -> pb.GetContextResponse:
    """GetContext for the module's story."""
    request = pb.GetContextRequest(story_id=STORY_ID, role=role, phase=phase, subtask_id=subtask_id)
    return await svc.stub.GetContext(request)


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_context_has_the_heading_of_exactly_the_granted_scopes(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, _ = seeded
    expected = {HEADING_OF[s] for s in granted(role, phase)}

    response = await get_context(svc, role, phase)

    assert set(headings(response.blocks.context)) == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_sections_appear_once_each_in_policy_order(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, _ = seeded
    expected = list(dict.fromkeys(HEADING_OF[s] for s in granted(role, phase)))

    response = await get_context(svc, role, phase)

    assert headings(response.blocks.context) == expected
    assert list(response.scopes) == [s.value for s in granted(role, phase)]


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_summary_text_appears_only_when_summary_last_is_granted(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    expected = {story.summary_for(role)} if Scope.SUMMARY_LAST in granted(role, phase) else set()

    response = await get_context(svc, role, phase)

    assert {s for s in story.summaries() if s in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_milestone_descriptions_appear_only_when_milestones_are_granted(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    expected = set(story.milestones) if Scope.MILESTONES in granted(role, phase) else set()

    response = await get_context(svc, role, phase)

    assert {m for m in story.milestones if m in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_task_titles_appear_only_for_tasks_a_subtask_scope_covers(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    scopes = set(granted(role, phase))
    sees_all = bool(scopes & {Scope.SUBTASKS_ALL, Scope.SUBTASKS_ALL_MIN})
    sees_own = bool(scopes & {Scope.SUBTASKS_ROLE, Scope.SUBTASKS_ROLE_MIN})
    expected = {t.title for t in story.tasks if sees_all or (sees_own and t.role == role)}

    response = await get_context(svc, role, phase)

    assert {t.title for t in story.tasks if t.title in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_task_descriptions_appear_only_under_full_subtask_scopes(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    scopes = set(granted(role, phase))
    sees_all = Scope.SUBTASKS_ALL in scopes
    sees_own = Scope.SUBTASKS_ROLE in scopes
    expected = {t.description for t in story.tasks if sees_all or (sees_own and t.role == role)}

    response = await get_context(svc, role, phase)

    assert {t.description for t in story.tasks if t.description in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_task_origin_metadata_never_appears_without_a_subtask_focus(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    origin_texts = [v for t in story.tasks for k, v in t.origin.items() if k != "decided_at"]

    response = await get_context(svc, role, phase)

    assert [v for v in origin_texts if v in response.context] == []


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_decision_titles_appear_only_for_decisions_a_decision_scope_covers(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    scopes = set(granted(role, phase))
    if scopes & {Scope.DECISIONS_GLOBAL, Scope.DECISIONS_GLOBAL_MIN}:
        expected = {d.title for d in story.decisions}
    elif Scope.DECISIONS_RELEVANT_ROLE in scopes:
        expected = {d.title for d in story.relevant_decisions(role)}
    else:
        expected = set()

    response = await get_context(svc, role, phase)

    assert {d.title for d in story.decisions if d.title in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_decision_rationale_alternatives_and_metadata_appear_only_under_full_decision_scopes(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    scopes = set(granted(role, phase))
    if Scope.DECISIONS_GLOBAL in scopes:
        shown = story.decisions
    elif Scope.DECISIONS_RELEVANT_ROLE in scopes:
        shown = tuple(story.relevant_decisions(role))
    else:
        shown = ()
    expected = {x for d in shown for x in (d.rationale, d.alternatives, d.note)}
    every = {x for d in story.decisions for x in (d.rationale, d.alternatives, d.note)}

    response = await get_context(svc, role, phase)

    assert {x for x in every if x in response.context} == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_dependency_lines_are_exactly_those_the_deps_scopes_grant(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    scopes = set(granted(role, phase))
    expected: set[str] = set()
    if Scope.DEPS_RELEVANT in scopes:
        own = story.tasks_of(role)
        own_ids = {t.task_id for t in own}
        relevant = {d.decision_id for d in story.relevant_decisions(role)}
        expected |= {f"- {t.task_id} depends on {dep}" for t in own for dep in t.dependencies}
        expected |= {
            f"- {tid} influenced by {d.decision_id}"
            for d in story.relevant_decisions(role)
            for tid in d.influences
            if tid in own_ids
        }
        expected |= {
            f"- {src} DEPENDS_ON {dst}" for src, dst in story.decision_edges if {src, dst} & relevant
        }
    if Scope.DEPS_DECISIONS in scopes:
        expected |= {f"- {src} DEPENDS_ON {dst}" for src, dst in story.decision_edges}

    response = await get_context(svc, role, phase)

    dependency_shaped = {
        line
        for line in response.blocks.context.split("\n")
        if line.startswith("- ")
        and (" depends on " in line or " influenced by " in line or " DEPENDS_ON " in line)
    }
    assert dependency_shaped == expected


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_plan_header_and_case_header_are_served_to_every_pair(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded

    response = await get_context(svc, role, phase)

    lines = response.blocks.context.split("\n")
    assert lines[0] == f"Case: {STORY_ID} — {story.title}"
    assert f"Plan: {story.plan_id} v2 · status APPROVED · 0/10 subtasks done" in lines
    assert f"Rationale: {story.plan_rationale}" in lines


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_subtask_focus_puts_current_subtask_right_after_case(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    focus = story.tasks_of("developer")[1]

    response = await get_context(svc, role, phase, subtask_id=focus.task_id)

    found = headings(response.blocks.context)
    assert found[:2] == ["Case:", "Current subtask:"]
    assert found[2:] == list(
        dict.fromkeys(HEADING_OF[s] for s in granted(role, phase) if s != Scope.CASE_HEADER)
    )
    assert f"Current subtask: {focus.task_id} — {focus.title}" in response.blocks.context


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_subtask_focus_shows_a_description_only_where_a_full_subtask_scope_covers_it(
    seeded: tuple[Service, SeededStory], role: str, phase: str
) -> None:
    svc, story = seeded
    focus = story.tasks_of("developer")[1]
    scopes = set(granted(role, phase))
    covered = Scope.SUBTASKS_ALL in scopes or (Scope.SUBTASKS_ROLE in scopes and role == "developer")

    response = await get_context(svc, role, phase, subtask_id=focus.task_id)

    assert (focus.description in response.context) is covered


async def test_qa_in_build_never_sees_any_developer_task_description(
    seeded: tuple[Service, SeededStory],
) -> None:
    svc, story = seeded
    developer_descriptions = [t.description for t in story.tasks_of("developer")]

    response = await get_context(svc, "qa", "BUILD")

    assert [d for d in developer_descriptions if d in response.context] == []
    assert [d for d in developer_descriptions if d in response.blocks.context] == []


async def test_developer_in_test_sees_only_its_own_subtasks_in_compact_form(
    seeded: tuple[Service, SeededStory],
) -> None:
    svc, story = seeded
    own = story.tasks_of("developer")

    response = await get_context(svc, "developer", "TEST")

    block = response.blocks.context
    assert section(block, "Your subtasks:") == [f"- {t.task_id} [PENDING] {t.title}" for t in own]
    assert headings(block) == ["Case:", "Plan:", "Your subtasks:"]
    assert [t.description for t in story.tasks if t.description in response.context] == []
    assert [t.title for t in story.tasks if t.role != "developer" and t.title in response.context] == []
    assert [d.title for d in story.decisions if d.title in response.context] == []
    assert [d.decision_id for d in story.decisions if d.decision_id in response.context] == []


async def test_subtask_focus_explains_why_the_task_exists(seeded: tuple[Service, SeededStory]) -> None:
    svc, story = seeded
    focus = story.tasks_of("developer")[1]
    o = focus.origin

    response = await get_context(svc, "developer", "BUILD", subtask_id=focus.task_id)

    assert section(response.blocks.context, "Current subtask:") == [
        f"Status: PENDING · Role: developer · Priority: {focus.priority}",
        f"Depends on: {', '.join(focus.dependencies)}",
        f"Description: {focus.description}",
        f"Why this task exists: decided by: {o['decided_by']} · reason: {o['decision_reason']}"
        f" · council feedback: {o['council_feedback']} · source: {o['source']} · date: {o['decided_at']}",
    ]


async def test_subtask_focus_without_origin_metadata_has_no_why_line(
    seeded: tuple[Service, SeededStory],
) -> None:
    svc, story = seeded
    focus = story.tasks_of("developer")[0]

    response = await get_context(svc, "developer", "BUILD", subtask_id=focus.task_id)

    body = section(response.blocks.context, "Current subtask:")
    assert [line for line in body if line.startswith("Why this task exists")] == []
    assert "Depends on: nothing" in body


async def test_qa_in_build_focusing_on_a_developer_task_does_not_see_its_description(
    seeded: tuple[Service, SeededStory],
) -> None:
    svc, story = seeded
    focus = story.tasks_of("developer")[1]

    response = await get_context(svc, "qa", "BUILD", subtask_id=focus.task_id)

    assert focus.description not in response.context
    assert [
        line for line in section(response.blocks.context, "Current subtask:") if "Description" in line
    ] == []
