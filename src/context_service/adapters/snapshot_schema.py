"""The snapshot JSON Schema shipped in the package, checked with the `jsonschema` library."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = "story-snapshot-v1.schema.json"


def load_schema() -> dict[str, Any]:
    """The packaged schema document."""
    text = resources.files("context_service").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class JsonSchemaValidator:
    """DocumentSchema over the packaged Draft 2020-12 schema (compiled once)."""

    def __init__(self) -> None:
        schema = load_schema()
        Draft202012Validator.check_schema(schema)
        self._validator = Draft202012Validator(schema)

    def problem(self, document: Any) -> str | None:
        """The most relevant violation with its JSON path, or None."""
        error = best_match(self._validator.iter_errors(document))
        if error is None:
            return None
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        return f"does not match the snapshot schema at {_path(error.absolute_path)}: {message}"
