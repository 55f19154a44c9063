"""Hostile messages on every inbound subject, on FalkorDB+Valkey+NATS: never a crash, never INTERNAL, never a
partial write, never a poison message blocking the good one behind it (the fast share; `make test-chaos`
runs many more cases)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, event, example, given, settings

from context_service.local_servers import LocalServer
from tests.e2e.hostile_messages import (
    GOOD,
    STORY,
    Fuzzed,
    check_case,
    envelope,
    fuzzed_service,
    hostile_messages,
)

pytestmark = pytest.mark.e2e
FAST_EXAMPLES = 20
LONG_EXAMPLES = 150  # make test-chaos


def _case(subject: str, kind: str, document: object) -> tuple[str, str, bytes]:
    return subject, kind, json.dumps(document).encode()


@pytest.fixture(scope="module")
async def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, falkordb: LocalServer, valkey: LocalServer, nats: LocalServer
) -> AsyncIterator[Fuzzed]:
    """One service process for the module's cases."""
    root = tmp_path_factory.mktemp("fuzz-nats")
    async with fuzzed_service(root, falkordb=falkordb, valkey=valkey, nats=nats) as service:
        yield service


@settings(max_examples=FAST_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(message=hostile_messages())
@example(message=("context.update.request", "garbage", b"\xff\xfe\x00not json"))
@example(message=_case("context.update.request", "envelope", ["a", "list"]))
@example(message=_case("planning.story.created", "payload", envelope("planning.story.created", {}, "k", "c")))
@example(
    message=_case(
        "context.update.request",
        "payload",
        envelope("context.update.request", {"story_id": STORY, "changes": [{"operation": "\x00"}]}, "k", "c"),
    )
)
@example(
    message=_case(
        "context.rehydrate.request",
        "huge",
        envelope("context.rehydrate.request", {"case_id": "x" * 600_000}, "k2", "c2"),
    )
)
async def test_a_hostile_message_is_settled_cleanly_and_the_next_one_is_applied(
    fuzzed: Fuzzed, message: tuple[str, str, bytes]
) -> None:
    # Arrange
    subject, kind, body = message

    # Act
    outcome = await check_case(fuzzed, subject, kind, body)

    # Assert (check_case asserts the good message behind it, the process, the log and the graph)
    event(f"{subject} {kind} {outcome}")
    assert fuzzed.served.process.poll() is None


@pytest.mark.chaos
@settings(max_examples=LONG_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(message=hostile_messages())
async def test_many_more_hostile_messages_are_settled_cleanly_and_never_block_the_next(
    fuzzed: Fuzzed, message: tuple[str, str, bytes]
) -> None:
    outcome = await check_case(fuzzed, *message)

    event(f"{message[0]} {message[1]} {outcome}")
    assert fuzzed.served.process.poll() is None


def test_every_inbound_subject_has_a_good_message_to_send_behind_a_hostile_one() -> None:
    from context_service.adapters.nats.handlers import SUBJECTS

    assert set(GOOD) == {s.subject for s in SUBJECTS}
