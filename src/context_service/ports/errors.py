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
    """A conditional write found the story in another phase than the one it expected."""

    def __init__(self, story_id: str, *, actual: str, expected: str) -> None:
        super().__init__(f"story '{story_id}' is in phase {actual}, not {expected}")
        self.story_id = story_id
        self.actual = actual
        self.expected = expected


class OwnershipConflict(PortError):
    """A write would merge into a node that belongs to another story."""

    def __init__(self, kind: str, node_id: str, owner: str) -> None:
        super().__init__(f"{kind.lower()} '{node_id}' already belongs to story '{owner}'")
        self.kind = kind
        self.node_id = node_id
        self.owner = owner


class DanglingLink(PortError):
    """A write batch links to a node that does not exist (the whole batch is rolled back)."""

    def __init__(self, kind: str, node_id: str) -> None:
        super().__init__(f"linked {kind.lower()} '{node_id}' not found")
        self.kind = kind
        self.node_id = node_id


class StoryMissing(PortError):
    """A write batch names a story that does not exist."""

    def __init__(self, story_id: str) -> None:
        super().__init__(f"story '{story_id}' not found")
        self.story_id = story_id


class StoryExists(PortError):
    """An import found the story already stored and was not asked to replace it."""

    def __init__(self, story_id: str) -> None:
        super().__init__(f"story '{story_id}' already exists; import with replace to overwrite it")
        self.story_id = story_id


class StoreMisconfigured(StoreUnavailable):
    """The store refuses this service's settings (TLS, credentials, URI); retrying cannot help."""


class CommitOutcomeUnknown(StoreUnavailable):
    """The connection broke while a commit was acknowledged: it may or may not have been applied."""


class WriteIdReused(PortError):
    """A change named the write id of an earlier change with other content (see `ports.session.WriteId`)."""


class EntryConflict(VersionConflict):
    """A session entry's compare-and-set lost: `key` (item `index`) is at `current` (0 = absent)."""

    def __init__(self, *, key: str, index: int, current: int, expected: int) -> None:
        super().__init__(f"entry '{key}' is at version {current}, expected {expected}")
        self.key = key
        self.index = index
        self.current = current
        self.expected = expected


class EntryTooLarge(PortError):
    """A value is larger than the session's max entry size."""

    def __init__(self, *, index: int, size: int, limit: int) -> None:
        super().__init__(f"value of {size} bytes is over the session's limit of {limit}")
        self.index = index
        self.size = size
        self.limit = limit


class SessionFull(PortError):
    """A write would take a session over max_entries (strict, or more new keys than fit)."""

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"the session holds at most {limit} entries")
        self.limit = limit


class ChangesTrimmed(PortError):
    """A change-log read starts before the oldest revision the log still retains."""

    def __init__(self, *, oldest: int) -> None:
        super().__init__(f"the oldest retained revision is {oldest}")
        self.oldest = oldest
