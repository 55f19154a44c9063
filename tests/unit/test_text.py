"""The one text rule (domain/text.py) and where the edges apply it: ids, free text, JSON bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from context_service.adapters.nats.envelope import MessageRejected, decode_envelope
from context_service.domain.errors import InvalidArgument
from context_service.domain.limits import limit_text, require_id
from context_service.domain.text import check_decoded, check_document, check_id, check_text, is_text

ENVELOPE = {
    "event_type": "planning.story.created",
    "idempotency_key": "k-1",
    "correlation_id": "c-1",
    "timestamp": "2026-11-21T10:00:00Z",
    "producer": "planning-service",
}


@pytest.mark.parametrize(
    "value",
    [
        "'}) DETACH DELETE n //",
        '"\\"; MATCH (n) DELETE n',
        "../../etc/passwd",
        "tab\there\r\n",
        "Zürich 東京 😀",
    ],
)
def test_free_text_carries_quotes_paths_controls_for_layout_and_unicode(value: str) -> None:
    # Act / Assert
    assert check_text(value, "title") == value


@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=20))
def test_the_quick_answer_for_free_text_agrees_with_the_full_check(value: str) -> None:
    # Arrange: any characters at all, surrogates and every control included
    try:
        check_text(value, "title")
        passes = True
    except InvalidArgument:
        passes = False

    # Act / Assert
    assert is_text(value) is passes


@pytest.mark.parametrize("value", ["a\x00b", "\x01", "bell\x07", "esc\x1b[0m", "\ud800", "x\udfff"])
def test_free_text_with_nul_other_controls_or_a_lone_surrogate_is_rejected_naming_the_field(
    value: str,
) -> None:
    # Act
    with pytest.raises(InvalidArgument) as caught:
        limit_text(value, "description")

    # Assert
    assert (caught.value.field, caught.value.message.startswith("description contains")) == (
        "description",
        True,
    )


@pytest.mark.parametrize("value", ["S-1\nS-2", "S-1\t", "S\x7f", "S\x85", "S\x00"])
def test_an_id_with_any_control_character_inside_is_rejected(value: str) -> None:
    # Act / Assert
    with pytest.raises(InvalidArgument, match="story_id contains a character"):
        require_id(f"x{value}x", "story_id")


def test_an_id_keeps_unicode_and_punctuation() -> None:
    # Act / Assert
    assert check_id("S-東京/../'x'", "story_id") == "S-東京/../'x'"


def test_a_document_names_the_path_of_the_bad_value() -> None:
    # Act
    with pytest.raises(InvalidArgument) as caught:
        check_document({"payload": {"decisions": [{"title": "ok"}, {"title": "a\x00"}]}}, "")

    # Assert
    assert caught.value.field == "payload.decisions[1].title"


def test_a_document_checks_its_keys_without_echoing_them() -> None:
    # Act
    with pytest.raises(InvalidArgument) as caught:
        check_document({"metadata": {"k\x00": "v"}}, "")

    # Assert
    assert caught.value.field == "a key of metadata"


@pytest.mark.parametrize(("escaped", "field"), [("a\\u0000b", "payload.title"), ("\\ud800", "payload.title")])
def test_a_message_with_nul_or_a_lone_surrogate_escaped_in_json_is_rejected_naming_the_field(
    escaped: str, field: str
) -> None:
    # Arrange
    body = json.dumps({**ENVELOPE, "payload": {"story_id": "S-1", "title": "TITLE"}}).replace(
        "TITLE", escaped
    )

    # Act
    with pytest.raises(MessageRejected) as caught:
        decode_envelope(body.encode())

    # Assert
    assert caught.value.field == field


@pytest.mark.parametrize(
    "text",
    [
        '{"a": ["x", "\\u0000"]}',  # NUL behind an escape
        '{"a": {"\\u0007": 1}}',  # a bell in a key
        '{"a": "\\ud800"}',  # a lone surrogate behind an escape
        '{"a": "\ud800"}',  # a lone surrogate in the text itself
    ],
)
def test_a_decoded_document_is_refused_for_a_character_its_text_escapes_or_holds(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_decoded(text, json.loads(text), "body")

    assert "contains a character that is not accepted" in str(raised.value)


def test_a_decoded_document_with_escaped_backslashes_tabs_and_unicode_passes() -> None:
    text = json.dumps({"path": "C:\\users", "layout": "a\tb\r\n", "name": "Zürich"}, ensure_ascii=False)

    passed = check_decoded(text, json.loads(text), "body")

    assert passed is None
