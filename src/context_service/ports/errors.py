"""Errors every adapter raises instead of its driver's exceptions."""

from __future__ import annotations


class PortError(Exception):
    """Base of adapter failures; `backend` and `operation` say where it happened."""

    def __init__(self, message: str, *, backend: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation


class StoreUnavailable(PortError):
    """The store or broker cannot be reached right now; retrying later may succeed."""


class StoreTimeout(PortError):
    """The store did not answer within its timeout."""


class VersionConflict(PortError):
    """A compare-and-set lost: the stored version is not the expected one."""


class PreconditionFailed(PortError):
    """A conditional write found the story in another state (e.g. another phase)."""

    def __init__(self, message: str, *, actual: str = "") -> None:
        super().__init__(message)
        self.actual = actual


class OwnershipConflict(PortError):
    """A write would merge into a node that belongs to another story."""

    def __init__(self, kind: str, node_id: str, owner: str) -> None:
        super().__init__(f"{kind.lower()} '{node_id}' already belongs to story '{owner}'")
        self.kind = kind
        self.node_id = node_id
        self.owner = owner


class DanglingLink(PortError):
    """A write batch links to a node that does not exist (the whole batch is rolled back)."""


class StoryMissing(PortError):
    """A write batch names a story that does not exist."""


class StoryExists(PortError):
    """An import found the story already stored and was not asked to replace it."""
