"""Unit tests for prompt serialisation, content versions and token-budget fitting (02 §2.4 steps 5-8)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import pytest

from context_service.adapters.tokenizer import Cl100kCounter
from context_service.domain.prompt import (
    FittedPrompt,
    PromptBlocks,
    content_version,
    context_block,
    fit_to_budget,
    serialise,
    system_text,
)
from context_service.domain.rendering import Section

SYSTEM = system_text("developer", "Checkout flow")
TOOLS = "You may call tools approved for your role when necessary."
CASE_HEADING = "Case: S-1 — Checkout flow"


def _lines(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(
        f"- {prefix}-{i:03d} [PENDING] Implement the {prefix.lower()} step number {i} with tests"
        for i in range(count)
    )


def _section(name: str, rank: int | None, body: tuple[str, ...]) -> Section:
    return Section(name=name, lines=(f"{name}:", *body), drop_rank=rank)


CASE = Section("Case", (CASE_HEADING, "Status: ACTIVE · Phase: BUILD"), None)
CURRENT = Section(
    "Current subtask", ("Current subtask: T-001 — Wire the payment port", "Depends on: nothing"), None
)
PLAN = Section("Plan", ("Plan: P-1 v2 · status APPROVED · 3/40 subtasks done", "Rationale: ship it"), 5)
YOURS = _section("Your subtasks", 6, _lines("MINE", 40))
ALL = _section("All subtasks", 4, _lines("TASK", 120))
DECISIONS = _section("Decisions", 3, _lines("DEC", 60))
DEPS = _section("Dependencies", 2, _lines("DEP", 30))
DECISION_DEPS = _section("Decision dependencies", 2, _lines("DDEP", 30))
MILESTONES = _section("Milestones", 1, _lines("MS", 10))
SUMMARY = _section("Last summary", 0, _lines("SUM", 20))

SECTIONS: tuple[Section, ...] = (
    CASE,
    CURRENT,
    PLAN,
    YOURS,
    ALL,
    DECISIONS,
    DEPS,
    DECISION_DEPS,
    MILESTONES,
    SUMMARY,
)
PROTECTED = (CASE, CURRENT)
# rank 0, 1, 2 (later first), 3, 4, 5, 6
DROP_ORDER = [
    "Last summary",
    "Milestones",
    "Decision dependencies",
    "Dependencies",
    "Decisions",
    "All subtasks",
    "Plan",
    "Your subtasks",
]
BUDGETS = [
    1,
    2,
    3,
    5,
    8,
    13,
    21,
    34,
    49,
    50,
    51,
    64,
    80,
    100,
    128,
    200,
    256,
    333,
    500,
    777,
    1000,
    1500,
    2048,
    3000,
    4000,
]


@pytest.fixture(scope="module")
def counter() -> Cl100kCounter:
    """One real cl100k_base counter for the module (loading the vocabulary is the slow part)."""
    return Cl100kCounter()


def tokens_of(sections: tuple[Section, ...] | list[Section], counter: Cl100kCounter) -> int:
    """Tokens of the full serialised prompt built from `sections`."""
    return counter.count(serialise(PromptBlocks(SYSTEM, context_block(sections), TOOLS)))


def fit(sections: tuple[Section, ...] | list[Section], budget: int, counter: Cl100kCounter) -> FittedPrompt:
    """fit_to_budget with the module's system and tools text."""
    return fit_to_budget(SYSTEM, sections, TOOLS, budget, counter.count)


@pytest.fixture(scope="module")
def fitted_at(counter: Cl100kCounter) -> Callable[[int], FittedPrompt]:
    """The full synthetic prompt fitted to a budget, computed once per budget for the module."""
    return functools.cache(lambda budget: fit(SECTIONS, budget, counter))


def test_synthetic_prompt_is_larger_than_every_sampled_budget(counter: Cl100kCounter) -> None:
    # Act
    total = tokens_of(SECTIONS, counter)

    # Assert
    assert total > max(BUDGETS)


# --- never over budget ------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", BUDGETS)
def test_fitted_prompt_never_exceeds_the_budget(
    counter: Cl100kCounter, fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert counter.count(fitted.text) <= budget


@pytest.mark.parametrize("budget", BUDGETS)
def test_fitted_token_count_is_the_count_of_the_final_text(
    counter: Cl100kCounter, fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert fitted.token_count == counter.count(fitted.text)


@pytest.mark.parametrize("budget", BUDGETS)
def test_fitted_text_is_the_serialisation_of_the_fitted_blocks(
    fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert fitted.text == serialise(fitted.blocks)


@pytest.mark.parametrize("budget", [b for b in BUDGETS if b >= 50])
def test_case_header_line_survives_every_budget_of_at_least_fifty_tokens(
    counter: Cl100kCounter, fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert fitted.blocks.context.split("\n")[0] == CASE_HEADING


@pytest.mark.parametrize("budget", BUDGETS)
def test_cut_prompt_reports_what_it_cut(fitted_at: Callable[[int], FittedPrompt], budget: int) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert fitted.dropped


@pytest.mark.parametrize("budget", [b for b in BUDGETS if b >= 50])
def test_context_after_truncation_is_a_prefix_of_what_survived_section_drops(
    fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Arrange
    fitted = fitted_at(budget)
    whole = {s.name for s in SECTIONS} - set(fitted.dropped)
    survivors = [s for s in SECTIONS if s.name in whole or f"{s.name} (truncated)" in fitted.dropped]

    # Act
    remaining = context_block(survivors)

    # Assert
    assert remaining.startswith(fitted.blocks.context)


# --- drop order -------------------------------------------------------------------------------------


def test_sections_are_dropped_by_rank_then_later_first_until_only_protected_ones_remain(
    counter: Cl100kCounter,
) -> None:
    # Arrange
    budget = tokens_of(PROTECTED, counter)

    # Act
    fitted = fit(SECTIONS, budget, counter)

    # Assert
    assert list(fitted.dropped) == DROP_ORDER


@pytest.mark.parametrize("kept", range(1, len(DROP_ORDER)))
def test_budget_cutting_stops_as_soon_as_the_prompt_fits(counter: Cl100kCounter, kept: int) -> None:
    # Arrange
    victims = set(DROP_ORDER[:kept])
    budget = tokens_of([s for s in SECTIONS if s.name not in victims], counter)

    # Act
    fitted = fit(SECTIONS, budget, counter)

    # Assert
    assert list(fitted.dropped) == DROP_ORDER[:kept]


def test_sections_sharing_a_rank_are_dropped_later_one_first(counter: Cl100kCounter) -> None:
    # Arrange
    first = _section("First", 1, _lines("ONE", 20))
    second = _section("Second", 1, _lines("TWO", 20))
    budget = tokens_of([CASE, first], counter)

    # Act
    fitted = fit([CASE, first, second], budget, counter)

    # Assert
    assert fitted.dropped == ("Second",)


def test_lower_rank_is_dropped_before_a_later_section_of_higher_rank(counter: Cl100kCounter) -> None:
    # Arrange
    low = _section("Low", 0, _lines("LOW", 20))
    high = _section("High", 7, _lines("HIGH", 20))
    budget = tokens_of([CASE, high], counter)

    # Act
    fitted = fit([CASE, low, high], budget, counter)

    # Assert
    assert fitted.dropped == ("Low",)


def test_dropped_sections_leave_no_trace_in_the_context(counter: Cl100kCounter) -> None:
    # Arrange
    budget = tokens_of(PROTECTED, counter)

    # Act
    fitted = fit(SECTIONS, budget, counter)

    # Assert
    assert fitted.blocks.context == context_block(PROTECTED)


@pytest.mark.parametrize("budget", BUDGETS)
def test_protected_sections_are_never_dropped_whole(
    fitted_at: Callable[[int], FittedPrompt], budget: int
) -> None:
    # Act
    fitted = fitted_at(budget)

    # Assert
    assert not {s.name for s in PROTECTED} & set(fitted.dropped)


def test_protected_sections_are_kept_whole_when_dropping_the_rest_is_enough(counter: Cl100kCounter) -> None:
    # Arrange
    budget = tokens_of(PROTECTED, counter)

    # Act
    fitted = fit(SECTIONS, budget, counter)

    # Assert
    assert all(s.text in fitted.blocks.context for s in PROTECTED)


def test_line_truncation_marks_the_sections_it_shortened(counter: Cl100kCounter) -> None:
    # Arrange
    long_case = Section("Case", (CASE_HEADING, *_lines("CASE", 80)), None)
    budget = tokens_of([Section("Case", long_case.lines[:40], None)], counter)

    # Act
    fitted = fit([long_case, SUMMARY], budget, counter)

    # Assert
    assert fitted.dropped == ("Last summary", "Case (truncated)")


def test_line_truncation_keeps_whole_lines_only(counter: Cl100kCounter) -> None:
    # Arrange
    long_case = Section("Case", (CASE_HEADING, *_lines("CASE", 80)), None)
    budget = tokens_of([Section("Case", long_case.lines[:40], None)], counter)

    # Act
    fitted = fit([long_case], budget, counter)

    # Assert
    assert set(fitted.blocks.context.split("\n")) <= set(long_case.lines)


# --- no cut -----------------------------------------------------------------------------------------


def test_budget_zero_leaves_the_prompt_unchanged(counter: Cl100kCounter) -> None:
    # Arrange
    whole = serialise(PromptBlocks(SYSTEM, context_block(SECTIONS), TOOLS))

    # Act
    fitted = fit(SECTIONS, 0, counter)

    # Assert
    assert (fitted.text, fitted.dropped) == (whole, ())


@pytest.mark.parametrize("slack", [0, 1, 1000])
def test_budget_at_or_above_the_prompt_size_leaves_it_unchanged(counter: Cl100kCounter, slack: int) -> None:
    # Arrange
    whole = serialise(PromptBlocks(SYSTEM, context_block(SECTIONS), TOOLS))
    budget = counter.count(whole) + slack

    # Act
    fitted = fit(SECTIONS, budget, counter)

    # Assert
    assert (fitted.text, fitted.dropped) == (whole, ())


# --- serialisation and version ----------------------------------------------------------------------


def test_serialisation_puts_each_block_under_its_heading_joined_by_rules() -> None:
    # Arrange
    blocks = PromptBlocks(system="S text", context="C line 1\nC line 2", tools="T text")

    # Act
    text = serialise(blocks)

    # Assert
    assert text == "# System\n\nS text\n\n---\n\n# Context\n\nC line 1\nC line 2\n\n---\n\n# Tools\n\nT text"


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        (PromptBlocks("S", "", "T"), "# System\n\nS\n\n---\n\n# Tools\n\nT"),
        (PromptBlocks("", "C", "T"), "# Context\n\nC\n\n---\n\n# Tools\n\nT"),
        (PromptBlocks("S", "C", ""), "# System\n\nS\n\n---\n\n# Context\n\nC"),
        (PromptBlocks("", "C", ""), "# Context\n\nC"),
        (PromptBlocks("S", "", ""), "# System\n\nS"),
        (PromptBlocks("", "", "T"), "# Tools\n\nT"),
        (PromptBlocks("", "", ""), ""),
    ],
    ids=["no-context", "no-system", "no-tools", "context-only", "system-only", "tools-only", "all-empty"],
)
def test_serialisation_omits_empty_blocks(blocks: PromptBlocks, expected: str) -> None:
    # Act
    text = serialise(blocks)

    # Assert
    assert text == expected


def test_system_block_names_the_role_and_the_case_title() -> None:
    # Act
    text = system_text("qa", "Login page")

    # Assert
    assert text == (
        "You are the qa agent working on case 'Login page'. "
        "Follow constraints and acceptance criteria. Provide only necessary steps."
    )


def test_context_block_separates_sections_by_a_blank_line() -> None:
    # Arrange
    sections = [Section("A", ("A:", "- a"), None), Section("B", ("B:", "- b"), 1)]

    # Act
    block = context_block(sections)

    # Assert
    assert block == "A:\n- a\n\nB:\n- b"


@pytest.mark.parametrize("text", ["", "# System\n\nhello", "ünïcødé — ✓", "x" * 10_000])
def test_content_version_is_the_first_sixteen_hex_of_sha256(text: str) -> None:
    # Act
    version = content_version(text)

    # Assert
    assert version == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_content_version_differs_when_content_differs() -> None:
    # Act
    versions = {content_version(t) for t in ("a", "b", "a ", "A")}

    # Assert
    assert len(versions) == 4


def test_fitting_is_deterministic(counter: Cl100kCounter) -> None:
    # Act
    first = fit(SECTIONS, 500, counter)
    second = fit(SECTIONS, 500, counter)

    # Assert
    assert first == second
