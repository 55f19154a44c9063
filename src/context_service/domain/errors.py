"""The domain's error hierarchy; the gRPC edge maps each class to one status code."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service reports to a caller on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """A request field is missing, blank, malformed, unknown or over a limit."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    """A story, task, subtask or node does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} '{ident}' not found")
        self.kind = kind
        self.ident = ident


class NotYetKnown(NotFound):
    """An event names a project, epic, story, plan or task this service has not recorded yet.

    Each subject has its own consumer, so a child's event may be handled before its parent's: retry later.
    """


class AlreadyExists(DomainError):
    """An id is already taken by an entity that belongs elsewhere."""


class FailedPrecondition(DomainError):
    """The request is valid but the current state does not allow it."""


class Aborted(DomainError):
    """An idempotency key was reused with other content, or a concurrent write won."""


class ResourceExhausted(DomainError):
    """The service is shedding load or the request is too large."""


class OutOfRange(DomainError):
    """A position (e.g. a change-log revision) is outside what the service still holds."""
