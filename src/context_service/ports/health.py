"""Dependency health: every store or broker adapter can say whether it is usable right now."""

from __future__ import annotations

from typing import Protocol


class HealthProbe(Protocol):
    """A dependency the service needs; `name` is its health service name suffix (e.g. "graph")."""

    @property
    def name(self) -> str:
        """Short dependency name: graph, valkey, kv, nats."""
        ...

    async def ping(self) -> None:
        """Return when the dependency answers; raise StoreUnavailable or StoreTimeout otherwise."""
        ...
