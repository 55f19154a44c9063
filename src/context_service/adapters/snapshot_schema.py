"""The snapshot JSON Schema shipped in the package: jsonschema-rs decides, `jsonschema` explains a refusal.

The compiled Rust validator checks the large story (550 kB) in about 2 ms where the pure-Python one took
0.5-1 s; the reference `jsonschema` library runs only on a document already refused, for its best-match
message and JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_FILE = "story-snapshot-v1.schema.json"
MAX_MESSAGE = 300


def load_schema() -> dict[str, Any]:
    """The packaged schema document."""
    text = resources.files("context_service").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local `$ref` replaced by its definition (the packaged schema has no cycles):
    resolving references is most of the pure-Python validator's time on a large document."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return inlined({**defs[ref.removeprefix("#/$defs/")], **rest}, defs)
        return {k: inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inlined(item, defs) for item in schema]
    return schema


def _problem(path: Iterable[str | int], message: str) -> str:
    shown = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"
    return f"does not match the snapshot schema at {_path(path)}: {shown}"


class JsonSchemaValidator:
    """DocumentSchema over the packaged Draft 2020-12 schema, each validator built once, on first use
    (checking and compiling the schema takes tens of milliseconds, which wiring the service need not pay)."""

    @cached_property
    def _schema(self) -> dict[str, Any]:
        schema = load_schema()
        Draft202012Validator.check_schema(schema)
        return schema

    @cached_property
    def _compiled(self) -> jsonschema_rs.Validator:
        # Offline: the schema has local references only, and nothing may be fetched while checking input.
        return jsonschema_rs.validator_for(self._schema, offline=True)

    @cached_property
    def _explainer(self) -> Draft202012Validator:
        return Draft202012Validator(inlined(self._schema, self._schema.get("$defs", {})))

    def problem(self, document: Any) -> str | None:
        """The most relevant violation with its JSON path, or None."""
        if self._compiled.is_valid(document):
            return None
        error = best_match(self._explainer.iter_errors(document))
        if error is not None:
            return _problem(error.absolute_path, error.message)
        # Refused by the compiled validator alone (it reads NaN and Infinity as null, which no store keeps).
        first = next(iter(self._compiled.iter_errors(document)))
        return _problem(first.instance_path, first.message)
