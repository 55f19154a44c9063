"""The delivery policy in one table: what a failure means for the message (04 §4.5).

TERM: never retried — terminated, copied to `context.dlq.<subject>` with the reason, answered if a requester
waits. RETRY: nak with an explicit exponential delay; the last allowed delivery is dead-lettered instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from context_service.adapters.nats.envelope import MessageRejected
from context_service.application.fleet_inputs import NotYetKnown
from context_service.domain import errors as d
from context_service.ports import errors as p


class Action(StrEnum):
    """What happens to a message that failed."""

    RETRY = "retry"
    TERM = "term"


@dataclass(frozen=True)
class Verdict:
    """The action for a failure, the error code for a response and a client-safe reason."""

    action: Action
    code: str
    reason: str


# Most specific classes first; the first match wins. A `None` message: the exception's own client-safe text.
_TABLE: tuple[tuple[type[Exception], Action, str, str | None], ...] = (
    (MessageRejected, Action.TERM, "INVALID_ARGUMENT", None),
    (NotYetKnown, Action.RETRY, "NOT_FOUND", None),  # its parent's event may still be on its way
    (d.InvalidArgument, Action.TERM, "INVALID_ARGUMENT", None),
    (d.NotFound, Action.TERM, "NOT_FOUND", None),
    (d.AlreadyExists, Action.TERM, "ALREADY_EXISTS", None),
    (d.FailedPrecondition, Action.TERM, "FAILED_PRECONDITION", None),
    (d.Aborted, Action.TERM, "ABORTED", None),
    (d.ResourceExhausted, Action.RETRY, "RESOURCE_EXHAUSTED", None),
    (p.StoreTimeout, Action.RETRY, "DEADLINE_EXCEEDED", "a backing store did not answer in time"),
    (p.StoreUnavailable, Action.RETRY, "UNAVAILABLE", "a backing store is unavailable"),
    (p.VersionConflict, Action.RETRY, "ABORTED", "a concurrent write won"),
    (p.PreconditionFailed, Action.RETRY, "FAILED_PRECONDITION", "the story changed state"),
    (p.DanglingLink, Action.RETRY, "NOT_FOUND", "a linked node does not exist yet"),
    (p.OwnershipConflict, Action.TERM, "ALREADY_EXISTS", None),
    (p.StoryMissing, Action.TERM, "NOT_FOUND", "story not found"),
)
# A bug may be transient; max_deliver still bounds the retries before the message is dead-lettered.
_UNEXPECTED = Verdict(Action.RETRY, "INTERNAL", "internal error")


def verdict(exc: Exception) -> Verdict:
    """The delivery verdict for an exception raised while handling a message."""
    for cls, action, code, message in _TABLE:
        if isinstance(exc, cls):
            return Verdict(action, code, message if message is not None else _text(exc))
    return _UNEXPECTED


def retry_delay(delivery: int, *, base: float, cap: float) -> float:
    """Exponential backoff for the n-th delivery (1-based): base, 2·base, 4·base … at most `cap`."""
    return float(min(cap, base * 2 ** max(0, delivery - 1)))


def _text(exc: Exception) -> str:
    if isinstance(exc, MessageRejected):
        return exc.reason
    if isinstance(exc, d.DomainError):
        return exc.message
    return str(exc)
