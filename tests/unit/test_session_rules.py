"""Session input rules and globs: pure functions, no store."""

from __future__ import annotations

import pytest

from context_service.domain import session_rules as rules
from context_service.domain.errors import InvalidArgument
from context_service.domain.session import PutItem


@pytest.mark.parametrize(
    ("glob", "key", "matches"),
    [
        ("analysis:mind:*", "analysis:mind:tim", True),
        ("analysis:mind:*", "analysis:body:tim", False),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a?c", "aéc", True),
        ("a.c", "abc", False),
        ("a[b]c", "a[b]c", True),
        ("", "anything", True),
        ("*", "", True),
    ],
)
def test_globs_know_only_star_and_question_mark(glob: str, key: str, matches: bool) -> None:
    assert bool(rules.glob_regex(glob).fullmatch(key)) is matches


def test_the_literal_prefix_stops_at_the_first_wildcard() -> None:
    assert [rules.literal_prefix(g) for g in ("ab*c?", "ab?c", "abc", "*")] == ["ab", "ab", "abc", ""]


def test_page_tokens_round_trip_and_foreign_ones_are_refused() -> None:
    assert rules.decode_token(rules.encode_token("analysis:mind:é")) == "analysis:mind:é"
    assert rules.decode_token("") == ""
    with pytest.raises(InvalidArgument) as raised:
        rules.decode_token("not a token!")
    assert raised.value.field == "page_token"


def test_a_batch_names_the_first_bad_item() -> None:
    items = [PutItem("a", "1"), PutItem("b", "1", ttl_ms=-1)]
    with pytest.raises(InvalidArgument) as raised:
        rules.batch(items)
    assert raised.value.field == "items[1].ttl_ms"


def test_duplicate_tags_collapse_in_order() -> None:
    assert rules.put_item(PutItem("a", "1", tags=("x", "y", "x"))).tags == ("x", "y")


@pytest.mark.parametrize("bad", ["", "a b", "a.b", "a*", "a>", "a\x00", "s" * 257])
def test_session_ids_are_nats_subject_tokens(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        rules.session_id(bad)
