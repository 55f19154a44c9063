"""The delivery policy: what a failure means for the message (04 §4.5), read from the one error table.

TERM: never retried — terminated, copied to `context.dlq.<subject>` with the reason, answered if a requester
waits. RETRY: nak with an explicit exponential delay; the last allowed delivery is dead-lettered instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from context_service.application.errors_table import report_for


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


def verdict(exc: Exception) -> Verdict:
    """The delivery verdict for an exception raised while handling a message."""
    found = report_for(exc)
    return Verdict(Action.RETRY if found.retryable else Action.TERM, found.code, found.message)


def retry_delay(delivery: int, *, base: float, cap: float) -> float:
    """Exponential backoff for the n-th delivery (1-based): base, 2·base, 4·base … at most `cap`."""
    return float(min(cap, base * 2 ** max(0, delivery - 1)))
