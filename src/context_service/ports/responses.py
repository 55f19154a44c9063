"""The response cache port: finished answers of the context reads, valid while their inputs are unchanged."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from context_service.domain.model import PlanningReadModel


class ResponseCache(Protocol):
    """Answers keyed by request, each stored with the story revision and read-models it was built from."""

    @property
    def enabled(self) -> bool:
        """False when caching is off: readers then skip the freshness read as well."""
        ...

    def fresh(self, key: Hashable, revision: int, planning: PlanningReadModel) -> object | None:
        """The answer under `key` if it was built from this revision and these read-models, else None."""
        ...

    def store(
        self, key: Hashable, revision: int, planning: PlanningReadModel, answer: object, size: int
    ) -> None:
        """Keep `answer` (about `size` bytes) under `key`, replacing what was there."""
        ...


class ChangeWatch(Protocol):
    """Pushed notice of changes to the context's inputs (the story graph, the planning read-models).

    Lets a reader keep what it last read of them and skip the read while nothing changed.
    """

    @property
    def generation(self) -> int:
        """Moves whenever an input changed, or a change may have been missed."""
        ...

    async def caught_up(self) -> bool:
        """True when every change made before this call is counted in `generation`; False when the watch
        cannot tell (then read the inputs)."""
        ...

    def begin_read(self) -> None:
        """A read of the inputs starts: `caught_up`, then the work on what it read, until `end_read`. The
        watch may let the fences of readers still at work be shared with those arriving meanwhile."""
        ...

    def end_read(self) -> None:
        """The read that `begin_read` started is done."""
        ...
