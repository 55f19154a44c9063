"""Read requests taken as their bytes (`KeptBodies`): each body decoded, checked and mapped once, then found
by its bytes, answering what decoding it anew would; refusals never kept; a bounded number kept."""

from __future__ import annotations

import itertools

import grpc
import pytest
from structlog.testing import capture_logs

from context_service.adapters.grpc import mappers
from context_service.adapters.grpc.bodies import KEPT_BODIES, KEPT_BODY_MAX_BYTES, KeptBodies
from context_service.adapters.grpc.servicer import ContextServicer
from context_service.adapters.policy_file import load_policy
from context_service.application.common import RequestMeta
from context_service.application.create_story import StoryRequest
from context_service.application.validate_scope import ValidateScope
from context_service.bootstrap import memory_adapters, wire
from context_service.domain.errors import InvalidArgument
from fleet.context.v1 import context_pb2 as pb
from tests.support.fakes import ServicerCall

POLICY = load_policy()
ROLES = ("developer", " QA ", "architect", "nobody", "")
PHASES = ("BUILD", "design", "TEST", "NOWHERE")
SCOPE_SETS = ((), ("CASE_HEADER",), ("case_header", "PLAN_HEADER", "CASE_HEADER"), ("SUBTASKS", "made-up"))
NOT_UTF8 = b"\x0a\x02\xed\xa0"  # field 1 (role), a string holding a byte sequence no UTF-8 decoder accepts


def servicer() -> ContextServicer:
    return ContextServicer(use_cases=wire(memory_adapters(), POLICY).use_cases)


def expected(request: pb.ValidateScopeRequest) -> bytes:
    verdict = ValidateScope(policy=POLICY).check(request.role, request.phase, list(request.provided_scopes))
    return mappers.encoded_verdict(verdict)


def test_a_body_found_again_maps_to_what_decoding_it_anew_gives() -> None:
    # Arrange
    mapped: list[pb.GetContextRequest] = []

    def asks(request: pb.GetContextRequest) -> object:
        mapped.append(request)
        return mappers.context_request(request)

    bodies = KeptBodies(pb.GetContextRequest, asks)
    body = pb.GetContextRequest(story_id="US-1", role="developer", phase="BUILD", token_budget=300)

    # Act
    first = bodies(body.SerializeToString())
    again = bodies(body.SerializeToString())

    # Assert
    assert first == (body, mappers.context_request(body))
    assert again == first
    assert len(mapped) == 1
    assert bodies.found() == 1
    assert bodies.kept() == 1


def test_a_body_that_is_not_a_valid_message_is_refused_each_time_and_never_kept() -> None:
    # Arrange
    bodies = KeptBodies(pb.ValidateScopeRequest, lambda request: request.role)

    # Act / Assert
    for _ in "ab":
        with pytest.raises(InvalidArgument, match="not a valid ValidateScopeRequest"):
            bodies(NOT_UTF8)
    assert bodies.kept() == 0


def test_a_body_breaking_the_text_rule_is_refused_each_time_naming_the_field_and_never_kept() -> None:
    # Arrange
    bodies = KeptBodies(pb.GetContextRequest, mappers.context_request)
    body = pb.GetContextRequest(story_id="US-1\x00", role="developer", phase="BUILD").SerializeToString()

    # Act / Assert
    for _ in "ab":
        with pytest.raises(InvalidArgument, match="story_id"):
            bodies(body)
    assert bodies.kept() == 0


def test_a_large_body_is_mapped_each_time_and_never_kept() -> None:
    # Arrange
    bodies = KeptBodies(pb.ValidateScopeRequest, lambda request: len(request.provided_scopes))
    body = pb.ValidateScopeRequest(role="qa", provided_scopes=[f"scope-{i}" for i in range(60)])
    assert body.ByteSize() > KEPT_BODY_MAX_BYTES

    # Act
    answers = [bodies(body.SerializeToString())[1] for _ in "ab"]

    # Assert
    assert answers == [60, 60]
    assert bodies.kept() == 0


def test_at_most_the_bound_of_bodies_is_kept() -> None:
    # Arrange
    bodies = KeptBodies(pb.ValidateScopeRequest, lambda request: request.role)

    # Act
    for i in range(KEPT_BODIES + 10):
        bodies(pb.ValidateScopeRequest(role=f"r{i}").SerializeToString())

    # Assert
    assert bodies.kept() == KEPT_BODIES


async def test_validate_scope_answers_every_question_as_the_policy_does_the_first_time_and_again() -> None:
    # Arrange
    served = servicer()
    questions = [
        pb.ValidateScopeRequest(role=role, phase=phase, provided_scopes=scopes)
        for role, phase, scopes in itertools.product(ROLES, PHASES, SCOPE_SETS)
    ]

    # Act
    first = [await served.ValidateScope(q.SerializeToString(), ServicerCall()) for q in questions]
    again = [await served.ValidateScope(q.SerializeToString(), ServicerCall()) for q in reversed(questions)]

    # Assert
    assert first == [expected(q) for q in questions]
    assert again == first[::-1]
    assert len(set(first)) > len(ROLES) * len(PHASES)  # different questions, different answers
    assert served._scope_bodies.found() == len(questions)  # asked again: found by the bytes


async def test_validate_scope_refuses_a_body_that_is_not_a_valid_request() -> None:
    # Arrange
    served = servicer()
    call = ServicerCall()

    # Act
    with pytest.raises(grpc.aio.AbortError):
        await served.ValidateScope(NOT_UTF8, call)

    # Assert
    assert call.status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the request is not a valid ValidateScopeRequest (strings must be UTF-8)",
    )


async def test_get_context_taken_as_bytes_names_its_story_in_the_canonical_line() -> None:
    # Arrange
    served = servicer()
    use_cases = served._uc
    await use_cases.create_story.execute(
        StoryRequest("US-7", "Kept bodies", "", "BUILD"), RequestMeta("c", "", 0, "test")
    )
    body = pb.GetContextRequest(story_id="US-7", role="developer", phase="BUILD").SerializeToString()
    call = ServicerCall()

    # Act
    with capture_logs() as lines:
        first = await served.GetContext(body, call)
        again = await served.GetContext(body, ServicerCall())

    # Assert
    assert pb.GetContextResponse.FromString(first).context
    assert again == first
    assert dict(call.trailers)["context-tokenizer"]
    rpc_lines = [line for line in lines if line["event"] == "rpc"]
    assert [line["story_id"] for line in rpc_lines] == ["US-7", "US-7"]
    assert served._context_bodies.found() == 1


async def test_get_context_refuses_a_request_its_validation_refuses_each_time_and_keeps_none() -> None:
    # Arrange
    served = servicer()
    body = pb.GetContextRequest(story_id="US-7", role="nobody", phase="BUILD").SerializeToString()
    calls = [ServicerCall(), ServicerCall()]

    # Act
    for call in calls:
        with pytest.raises(grpc.aio.AbortError):
            await served.GetContext(body, call)

    # Assert
    assert [call.status and call.status[0] for call in calls] == [grpc.StatusCode.INVALID_ARGUMENT] * 2
    assert served._context_bodies.kept() == 0
