"""The one error table: exception class → status code name, client-safe message and whether a retry may help.

Both edges read it: the gRPC edge turns the code name into a status (`adapters/grpc/status.py`); the NATS
settle step naks a retryable failure with backoff and terms and dead-letters the rest with the message as the
reason (`adapters/nats/outcomes.py`). Code names are gRPC's, kept as text so no inner layer imports grpc.
"""

from __future__ import annotations

from dataclasses import dataclass

from context_service.domain import errors as d
from context_service.ports import errors as p

INTERNAL_MESSAGE = "internal error"


@dataclass(frozen=True)
class ErrorReport:
    """What a caller is told about a failure, and whether the same request may succeed later."""

    code: str
    message: str
    retryable: bool


# Most specific classes first; the first match wins. A `None` message: the exception's own text, which these
# classes build from ids and states only. Port errors with driver text get a fixed message instead.
_TABLE: tuple[tuple[type[BaseException], str, str | None, bool], ...] = (
    (d.NotYetKnown, "NOT_FOUND", None, True),  # its parent's event may still be on its way
    (d.InvalidArgument, "INVALID_ARGUMENT", None, False),
    (d.NotFound, "NOT_FOUND", None, False),
    (d.AlreadyExists, "ALREADY_EXISTS", None, False),
    (d.FailedPrecondition, "FAILED_PRECONDITION", None, False),
    (d.Aborted, "ABORTED", None, False),
    (d.ResourceExhausted, "RESOURCE_EXHAUSTED", None, True),
    # Reaches a caller only when re-reading could not tell whether a write without a request id landed:
    # running it again might apply it twice, so the caller reads before deciding (never retried blindly).
    (
        p.CommitOutcomeUnknown,
        "ABORTED",
        "the write may or may not have been applied; read before retrying",
        False,
    ),
    # Wrong credentials, TLS trust or database name: the same request succeeds once the settings are fixed.
    (p.StoreMisconfigured, "UNAVAILABLE", "a backing store refuses this service's settings", True),
    (d.OutOfRange, "OUT_OF_RANGE", None, False),
    # Session store refusals; the session use cases name the request field first, these are the fallback.
    (p.EntryConflict, "ABORTED", None, False),
    (p.EntryTooLarge, "INVALID_ARGUMENT", None, False),
    (p.SessionFull, "RESOURCE_EXHAUSTED", None, False),
    (p.ChangesTrimmed, "OUT_OF_RANGE", None, False),
    (p.StoreTimeout, "DEADLINE_EXCEEDED", "a backing store did not answer in time", True),
    (p.StoreUnavailable, "UNAVAILABLE", "a backing store is unavailable; retry later", True),
    (p.VersionConflict, "ABORTED", "a concurrent write won; retry", True),
    (p.OwnershipConflict, "ALREADY_EXISTS", None, False),
    (p.StoryExists, "ALREADY_EXISTS", None, False),
    (p.PreconditionFailed, "FAILED_PRECONDITION", None, True),
    (p.StoryMissing, "NOT_FOUND", None, True),  # a story's event may still be on its way
    # The caller linked to a node that does not exist: the request names a missing entity, which is the
    # caller's to fix (or, for a fleet event, its parent's event still to come), not a fault of the service.
    (p.DanglingLink, "NOT_FOUND", None, True),
    (TimeoutError, "DEADLINE_EXCEEDED", "deadline exceeded", True),
)
# A bug may be transient; on NATS max_deliver still bounds the retries before the message is dead-lettered.
UNEXPECTED = ErrorReport("INTERNAL", INTERNAL_MESSAGE, retryable=True)


def report_for(exc: BaseException) -> ErrorReport:
    """The status code name, client-safe message and retryability of an exception raised by a use case."""
    for cls, code, message, retryable in _TABLE:
        if isinstance(exc, cls):
            return ErrorReport(code, message if message is not None else _own_text(exc), retryable)
    return UNEXPECTED


def _own_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, d.DomainError) else str(exc)
