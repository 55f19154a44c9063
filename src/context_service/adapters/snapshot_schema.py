"""The snapshot JSON Schema shipped in the package, checked with the `jsonschema` library."""

from __future__ import annotations

import json
from functools import cached_property
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


def inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local `$ref` replaced by its definition (the packaged schema has no cycles):
    resolving references is most of the validator's time on a large document."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return inlined({**defs[ref.removeprefix("#/$defs/")], **rest}, defs)
        return {k: inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inlined(item, defs) for item in schema]
    return schema


class JsonSchemaValidator:
    """DocumentSchema over the packaged Draft 2020-12 schema (checked and inlined once, on first use:
    checking the schema takes tens of milliseconds, which wiring the service should not pay)."""

    @cached_property
    def _validator(self) -> Draft202012Validator:
        schema = load_schema()
        Draft202012Validator.check_schema(schema)
        return Draft202012Validator(inlined(schema, schema.get("$defs", {})))

    def problem(self, document: Any) -> str | None:
        """The most relevant violation with its JSON path, or None."""
        validator = self._validator
        if validator.is_valid(document):
            return None
        error = best_match(validator.iter_errors(document))
        if error is None:
            return None
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        return f"does not match the snapshot schema at {_path(error.absolute_path)}: {message}"
