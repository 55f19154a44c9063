"""The snapshot document's JSON Schema, behind a port so the use cases stay free of the validator library."""

from __future__ import annotations

from typing import Any, Protocol


class DocumentSchema(Protocol):
    """Checks a parsed document against the snapshot JSON Schema of its format version."""

    def problem(self, document: Any) -> str | None:
        """A description of the first schema violation (with its JSON path), or None when valid."""
        ...
