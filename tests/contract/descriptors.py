"""How the extension contract suites read a generated field: (number, name, type, label)."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

Field = tuple[int, str, str, str]  # number, name, scalar keyword or message/enum name, label
SCALARS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_BOOL: "bool",
}


def field_shape(field: FieldDescriptor) -> Field:
    """The field as a contract table spells it; label "repeated", "optional" (in a oneof) or ""."""
    kind = field.message_type or field.enum_type
    type_ = kind.name if kind is not None else SCALARS.get(field.type, f"<type {field.type}>")
    label = "repeated" if field.is_repeated else "optional" if field.containing_oneof is not None else ""
    return field.number, field.name, type_, label
