"""The text rule over a whole request: every string, repeated string, nested message and map key, named."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from context_service.adapters.grpc.mappers import check_request
from context_service.domain.errors import InvalidArgument
from fleet.context.v1 import context_pb2 as pb


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (pb.ValidateScopeRequest(role="dev\x00"), "role"),
        (pb.ValidateScopeRequest(provided_scopes=["CASE_HEADER", "a\x01b", "x"]), "provided_scopes[1]"),
        (
            pb.UpdateContextRequest(
                story_id="S-1", changes=[pb.ContextChange(entity_id="M-1"), pb.ContextChange(reason="r\x02")]
            ),
            "changes[1].reason",
        ),
        (
            pb.AddProjectDecisionRequest(story_id="S-1", metadata={"ok": "v", "k\x03": "v"}),
            "a key of metadata",
        ),
        (pb.AddProjectDecisionRequest(story_id="S-1", metadata={"k": "v\x04"}), "metadata.k"),
    ],
)
def test_a_forbidden_character_anywhere_in_a_request_is_refused_naming_its_field(
    request_message: Message, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_request(request_message)

    assert raised.value.field == field


@pytest.mark.parametrize("text", ["two\nlines\tand\r", "✓ naïve 𝄞", "' \" ../ MATCH (n) \\", ""])
def test_text_with_tabs_newlines_and_any_other_character_passes_where_a_nul_does_not(text: str) -> None:
    allowed = pb.UpdateContextRequest(story_id="S-1", changes=[pb.ContextChange(reason=text)])
    refused = pb.UpdateContextRequest(story_id="S-1", changes=[pb.ContextChange(reason=text + "\x00")])

    check_request(allowed)
    with pytest.raises(InvalidArgument) as raised:
        check_request(refused)

    assert raised.value.field == "changes[0].reason"
