"""ValidateScope's kept answers: the same bytes the use case's verdict encodes to, for every question asked
again, and a bounded number of them (the verdict depends on the request and the fixed policy alone)."""

from __future__ import annotations

import itertools

from context_service.adapters.grpc import mappers
from context_service.adapters.grpc.servicer import SCOPE_ANSWERS, SCOPE_REQUEST_MAX_BYTES, ContextServicer
from context_service.adapters.policy_file import load_policy
from context_service.application.validate_scope import ValidateScope
from context_service.bootstrap import memory_adapters, wire
from fleet.context.v1 import context_pb2 as pb

POLICY = load_policy()
ROLES = ("developer", " QA ", "architect", "nobody", "")
PHASES = ("BUILD", "design", "TEST", "NOWHERE")
SCOPE_SETS = ((), ("CASE_HEADER",), ("case_header", "PLAN_HEADER", "CASE_HEADER"), ("SUBTASKS", "made-up"))


class Call:
    """The parts of a grpc.aio servicer context the `rpc` wrapper reads."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def code(self) -> None:
        return None

    def done(self) -> bool:
        return False


def servicer() -> ContextServicer:
    return ContextServicer(use_cases=wire(memory_adapters(), POLICY).use_cases)


def expected(request: pb.ValidateScopeRequest) -> bytes:
    verdict = ValidateScope(policy=POLICY).check(request.role, request.phase, list(request.provided_scopes))
    return mappers.encoded_verdict(verdict)


async def test_a_question_asked_again_gets_the_same_answer_as_the_first_time() -> None:
    # Arrange
    served = servicer()
    questions = [
        pb.ValidateScopeRequest(role=role, phase=phase, provided_scopes=scopes)
        for role, phase, scopes in itertools.product(ROLES, PHASES, SCOPE_SETS)
    ]

    # Act
    first = [await served.ValidateScope(q, Call()) for q in questions]
    again = [await served.ValidateScope(q, Call()) for q in reversed(questions)]

    # Assert
    assert first == [expected(q) for q in questions]
    assert again == first[::-1]
    assert len(set(first)) > len(ROLES) * len(PHASES)  # different questions, different answers
    assert served._kept_scope_answer.cache_info().hits == len(questions)  # asked again: the kept answers


async def test_an_answer_decodes_to_the_verdict_of_the_policy_the_first_time_and_when_kept() -> None:
    # Arrange
    served = servicer()
    question = pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=["case_header"])
    verdict = ValidateScope(policy=POLICY).check("developer", "BUILD", ["case_header"])

    # Act
    answers = [
        pb.ValidateScopeResponse.FromString(await served.ValidateScope(question, Call())) for _ in "ab"
    ]

    # Assert
    assert answers[0] == answers[1]
    assert served._kept_scope_answer.cache_info().hits == 1
    assert answers[0].allowed is verdict.allowed
    assert tuple(answers[0].missing) == verdict.missing
    assert tuple(answers[0].extra) == verdict.extra
    assert answers[0].reason == verdict.reason


async def test_a_large_question_is_answered_but_not_kept() -> None:
    # Arrange
    served = servicer()
    scopes = [f"scope-{i}" for i in range(40)]
    question = pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=scopes)
    assert question.ByteSize() > SCOPE_REQUEST_MAX_BYTES

    # Act
    answer = await served.ValidateScope(question, Call())

    # Assert
    assert answer == expected(question)
    assert served._kept_scope_answer.cache_info().currsize == 0


async def test_at_most_the_bound_of_answers_is_kept() -> None:
    # Arrange
    served = servicer()

    # Act
    for i in range(SCOPE_ANSWERS + 10):
        await served.ValidateScope(
            pb.ValidateScopeRequest(role="qa", phase="TEST", provided_scopes=[f"s{i}"]), Call()
        )

    # Assert
    assert served._kept_scope_answer.cache_info().currsize == SCOPE_ANSWERS
