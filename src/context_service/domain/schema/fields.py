"""Readers the schemas share: typed fields of a change payload, stored properties with read defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from context_service.domain.schema.labels import Fields, Scalar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Entity = TypeVar("Entity", bound="DataclassInstance")


class ChangeRejected(ValueError):
    """One change cannot be applied; the reason becomes a warning, the rest of the batch commits."""


def text(payload: Mapping[str, Any], key: str, *aliases: str, upper: bool = False) -> str | None:
    """A string field (first of key/aliases present), trimmed; None when absent."""
    for name in (key, *aliases):
        if name in payload and payload[name] is not None:
            value = payload[name]
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ChangeRejected(f"{name} must be a string")
            result = str(value).strip()
            return result.upper() if upper else result
    return None


def integer(payload: Mapping[str, Any], key: str) -> int | None:
    """An integer field; None when absent; rejected when not a whole number."""
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ChangeRejected(f"{key} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise ChangeRejected(f"{key} must be an integer") from None


def put(fields: Fields, key: str, value: Scalar | None) -> None:
    """Set `key` when the payload gave a value."""
    if value is not None:
        fields[key] = value


def require_title(fields: Fields, exists: bool) -> None:
    """A new node needs a title."""
    if not exists and not fields.get("title"):
        raise ChangeRejected("title is required to create it")


def prop(props: Mapping[str, Any], key: str, default: str = "") -> str:
    """A stored property as text; `default` when the node has none."""
    value = props.get(key)
    return default if value is None else str(value)


def int_prop(props: Mapping[str, Any], key: str) -> int:
    """A stored numeric property; 0 when the node has none."""
    value = props.get(key)
    return int(value) if isinstance(value, int | float) else 0


def decode(
    entity: type[Entity],
    props: Mapping[str, Any],
    *,
    renamed: Mapping[str, str],
    defaults: Mapping[str, str] | None = None,
    **given: Any,
) -> Entity:
    """An entity from a node's properties: each text or number field from the property of its name.

    `renamed` maps an entity field to a property of another name (`id` for the entity's id), `defaults` holds
    the read defaults of text fields, `given` the fields that do not come from the node's own properties.
    """
    values = dict(given)
    text_defaults = defaults or {}
    # `prop` and `int_prop` inlined: every node of every story load passes here, once per field.
    for name, kind in _field_types(entity):
        if name in values:
            continue
        value = props.get(renamed.get(name, name))
        if kind == "int":
            values[name] = int(value) if isinstance(value, int | float) else 0
        elif kind == "str":
            values[name] = text_defaults.get(name, "") if value is None else str(value)
    return entity(**values)


@cache
def _field_types(entity: type[DataclassInstance]) -> tuple[tuple[str, object], ...]:
    """Each field's name and annotation, read once per entity class (every node read goes through here)."""
    return tuple((f.name, f.type) for f in dataclass_fields(entity))
