"""Reading back a commit whose acknowledgement was lost: landed, surely not landed, or unknowable."""

from __future__ import annotations

import pytest

from context_service.adapters.cypher.outcome import Attempt, read_outcome
from context_service.domain.mutations import CommitResult, WriteBatch
from context_service.ports.errors import CommitOutcomeUnknown

MINE = Attempt("attempt-1", revision=4)


def row(*, attempt: str, revision: int, recorded: bool = False) -> list[list[object]]:
    """The outcome read: last attempt, revision, version, phase, and the request's record."""
    record = [6, "DESIGN", '[["Task", "T-1"]]', "key-1"] if recorded else None
    return [[attempt, revision, 7, "BUILD", record]]


def test_the_story_carrying_this_attempt_id_means_it_landed() -> None:
    found = read_outcome(row(attempt="attempt-1", revision=5), WriteBatch("S", ()), MINE)

    assert found == CommitResult(7, "BUILD")


def test_a_record_of_the_request_means_it_was_applied_before() -> None:
    found = read_outcome(
        row(attempt="other", revision=6, recorded=True), WriteBatch("S", (), request_id="r"), MINE
    )

    assert found == CommitResult(6, "DESIGN", replayed=True, changed=(("Task", "T-1"),), event_key="key-1")


@pytest.mark.parametrize(
    ("batch", "revision"),
    [(WriteBatch("S", (), request_id="r"), 6), (WriteBatch("S", ()), 4)],
    ids=["request-without-record", "revision-unchanged"],
)
def test_a_commit_that_surely_did_not_land_is_run_again(batch: WriteBatch, revision: int) -> None:
    assert read_outcome(row(attempt="other", revision=revision), batch, MINE) is None


def test_a_missing_story_means_its_creating_commit_did_not_land() -> None:
    assert read_outcome([], WriteBatch("S", ()), MINE) is None


def test_another_write_after_an_unknown_commit_without_a_request_id_is_reported_not_guessed() -> None:
    with pytest.raises(CommitOutcomeUnknown):
        read_outcome(row(attempt="other", revision=6), WriteBatch("S", ()), MINE)
