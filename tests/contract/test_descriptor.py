"""The generated descriptor matches the frozen fleet.context.v1 contract (spec 01 §1.2) exactly.

The spec table is encoded below as data; every test compares the descriptor compiled into the
generated stubs against it, so a renamed, renumbered, retyped, added or removed element fails here
with the name of the message or RPC that drifted.
"""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from fleet.context.v1 import context_pb2

PACKAGE = "fleet.context.v1"
SERVICE = "ContextService"

# (number, name, type, label): type is a proto scalar keyword, a message name of the package, or
# "map<key, value>"; label is "repeated", "map" or "" (proto3 singular).
Field = tuple[int, str, str, str]

CONTRACT_MESSAGES: dict[str, list[Field]] = {
    "GetContextRequest": [
        (1, "story_id", "string", ""),
        (2, "role", "string", ""),
        (3, "phase", "string", ""),
        (4, "subtask_id", "string", ""),
        (5, "token_budget", "int32", ""),
    ],
    "GetContextResponse": [
        (1, "context", "string", ""),
        (2, "token_count", "int32", ""),
        (3, "scopes", "string", "repeated"),
        (4, "version", "string", ""),
        (5, "blocks", "PromptBlocks", ""),
    ],
    "PromptBlocks": [
        (1, "system", "string", ""),
        (2, "context", "string", ""),
        (3, "tools", "string", ""),
    ],
    "UpdateContextRequest": [
        (1, "story_id", "string", ""),
        (2, "task_id", "string", ""),
        (3, "role", "string", ""),
        (4, "changes", "ContextChange", "repeated"),
        (5, "timestamp", "string", ""),
    ],
    "ContextChange": [
        (1, "operation", "string", ""),
        (2, "entity_type", "string", ""),
        (3, "entity_id", "string", ""),
        (4, "payload", "string", ""),
        (5, "reason", "string", ""),
    ],
    "UpdateContextResponse": [
        (1, "version", "int32", ""),
        (2, "hash", "string", ""),
        (3, "warnings", "string", "repeated"),
    ],
    "RehydrateSessionRequest": [
        (1, "case_id", "string", ""),
        (2, "roles", "string", "repeated"),
        (3, "include_timeline", "bool", ""),
        (4, "include_summaries", "bool", ""),
        (5, "timeline_events", "int32", ""),
        (6, "persist_bundle", "bool", ""),
        (7, "ttl_seconds", "int32", ""),
    ],
    "RehydrateSessionResponse": [
        (1, "case_id", "string", ""),
        (2, "generated_at_ms", "int64", ""),
        (3, "packs", "map<string, RoleContextPack>", "map"),
        (4, "stats", "RehydrationStats", ""),
    ],
    "RoleContextPack": [
        (1, "role", "string", ""),
        (2, "case_header", "CaseHeader", ""),
        (3, "plan_header", "PlanHeader", ""),
        (4, "subtasks", "Subtask", "repeated"),
        (5, "decisions", "Decision", "repeated"),
        (6, "decision_deps", "DecisionRelation", "repeated"),
        (7, "impacted", "ImpactedSubtask", "repeated"),
        (8, "milestones", "Milestone", "repeated"),
        (9, "last_summary", "string", ""),
        (10, "token_budget_hint", "int32", ""),
    ],
    "CaseHeader": [
        (1, "case_id", "string", ""),
        (2, "title", "string", ""),
        (3, "description", "string", ""),
        (4, "status", "string", ""),
        (5, "created_at", "string", ""),
        (6, "created_by", "string", ""),
    ],
    "PlanHeader": [
        (1, "plan_id", "string", ""),
        (2, "version", "int32", ""),
        (3, "status", "string", ""),
        (4, "total_subtasks", "int32", ""),
        (5, "completed_subtasks", "int32", ""),
    ],
    "Subtask": [
        (1, "subtask_id", "string", ""),
        (2, "title", "string", ""),
        (3, "description", "string", ""),
        (4, "role", "string", ""),
        (5, "status", "string", ""),
        (6, "dependencies", "string", "repeated"),
        (7, "priority", "int32", ""),
    ],
    "Decision": [
        (1, "id", "string", ""),
        (2, "title", "string", ""),
        (3, "rationale", "string", ""),
        (4, "status", "string", ""),
        (5, "decided_by", "string", ""),
        (6, "decided_at", "string", ""),
    ],
    "DecisionRelation": [
        (1, "src_id", "string", ""),
        (2, "dst_id", "string", ""),
        (3, "relation_type", "string", ""),
    ],
    "ImpactedSubtask": [
        (1, "decision_id", "string", ""),
        (2, "subtask_id", "string", ""),
        (3, "title", "string", ""),
    ],
    "Milestone": [
        (1, "event_type", "string", ""),
        (2, "description", "string", ""),
        (3, "ts_ms", "int64", ""),
        (4, "actor", "string", ""),
    ],
    "RehydrationStats": [
        (1, "decisions", "int32", ""),
        (2, "decision_edges", "int32", ""),
        (3, "impacts", "int32", ""),
        (4, "events", "int32", ""),
        (5, "roles", "string", "repeated"),
    ],
    "ValidateScopeRequest": [
        (1, "role", "string", ""),
        (2, "phase", "string", ""),
        (3, "provided_scopes", "string", "repeated"),
    ],
    "ValidateScopeResponse": [
        (1, "allowed", "bool", ""),
        (2, "missing", "string", "repeated"),
        (3, "extra", "string", "repeated"),
        (4, "reason", "string", ""),
    ],
    "CreateStoryRequest": [
        (1, "story_id", "string", ""),
        (2, "title", "string", ""),
        (3, "description", "string", ""),
        (4, "initial_phase", "string", ""),
    ],
    "CreateStoryResponse": [
        (1, "context_id", "string", ""),
        (2, "story_id", "string", ""),
        (3, "current_phase", "string", ""),
    ],
    "CreateTaskRequest": [
        (1, "story_id", "string", ""),
        (2, "task_id", "string", ""),
        (3, "title", "string", ""),
        (4, "description", "string", ""),
        (5, "role", "string", ""),
        (6, "dependencies", "string", "repeated"),
        (7, "priority", "int32", ""),
        (8, "estimated_hours", "int32", ""),
    ],
    "CreateTaskResponse": [
        (1, "task_id", "string", ""),
        (2, "story_id", "string", ""),
        (3, "status", "string", ""),
    ],
    "AddProjectDecisionRequest": [
        (1, "story_id", "string", ""),
        (2, "decision_type", "string", ""),
        (3, "title", "string", ""),
        (4, "rationale", "string", ""),
        (5, "alternatives_considered", "string", ""),
        (6, "metadata", "map<string, string>", "map"),
    ],
    "AddProjectDecisionResponse": [
        (1, "decision_id", "string", ""),
    ],
    "TransitionPhaseRequest": [
        (1, "story_id", "string", ""),
        (2, "from_phase", "string", ""),
        (3, "to_phase", "string", ""),
        (4, "rationale", "string", ""),
    ],
    "TransitionPhaseResponse": [
        (1, "story_id", "string", ""),
        (2, "current_phase", "string", ""),
        (3, "transitioned_at", "string", ""),
    ],
    "GetGraphRelationshipsRequest": [
        (1, "node_id", "string", ""),
        (2, "node_type", "string", ""),
        (3, "depth", "int32", ""),
    ],
    "GetGraphRelationshipsResponse": [
        (1, "node", "GraphNode", ""),
        (2, "neighbors", "GraphNode", "repeated"),
        (3, "relationships", "GraphRelationship", "repeated"),
        (4, "success", "bool", ""),
        (5, "message", "string", ""),
    ],
    "GraphNode": [
        (1, "id", "string", ""),
        (2, "labels", "string", "repeated"),
        (3, "properties", "map<string, string>", "map"),
        (4, "type", "string", ""),
        (5, "title", "string", ""),
    ],
    "GraphRelationship": [
        (1, "from_node_id", "string", ""),
        (2, "to_node_id", "string", ""),
        (3, "type", "string", ""),
        (4, "properties", "map<string, string>", "map"),
    ],
}

# RPC name -> (request message, response message); every RPC is unary.
CONTRACT_RPCS: dict[str, tuple[str, str]] = {
    "GetContext": ("GetContextRequest", "GetContextResponse"),
    "UpdateContext": ("UpdateContextRequest", "UpdateContextResponse"),
    "RehydrateSession": ("RehydrateSessionRequest", "RehydrateSessionResponse"),
    "ValidateScope": ("ValidateScopeRequest", "ValidateScopeResponse"),
    "CreateStory": ("CreateStoryRequest", "CreateStoryResponse"),
    "CreateTask": ("CreateTaskRequest", "CreateTaskResponse"),
    "AddProjectDecision": ("AddProjectDecisionRequest", "AddProjectDecisionResponse"),
    "TransitionPhase": ("TransitionPhaseRequest", "TransitionPhaseResponse"),
    "GetGraphRelationships": ("GetGraphRelationshipsRequest", "GetGraphRelationshipsResponse"),
}

_SCALAR_NAMES: dict[int, str] = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def _qualified(type_name: str) -> str:
    """A spec type as the descriptor spells it: scalars as keywords, messages by full name."""
    if type_name.startswith("map<") and type_name.endswith(">"):
        key, value = (part.strip() for part in type_name[len("map<") : -1].split(","))
        return f"map<{_qualified(key)}, {_qualified(value)}>"
    if type_name in _SCALAR_NAMES.values():
        return type_name
    return f"{PACKAGE}.{type_name}"


def _is_map(field: FieldDescriptor) -> bool:
    return (
        field.is_repeated
        and field.type == FieldDescriptor.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
    )


def _type_of(field: FieldDescriptor) -> str:
    if _is_map(field):
        entry = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return f"map<{_type_of(key)}, {_type_of(value)}>"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return field.message_type.full_name
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.full_name
    return _SCALAR_NAMES.get(field.type, f"<unknown type {field.type}>")


def _label_of(field: FieldDescriptor) -> str:
    if _is_map(field):
        return "map"
    if field.is_repeated:
        return "repeated"
    if field.is_required:
        return "required"
    return ""


def _message(name: str) -> Descriptor:
    messages = context_pb2.DESCRIPTOR.message_types_by_name
    assert name in messages, f"message {name} is missing from {PACKAGE}"
    return messages[name]


def _service_methods() -> dict[str, object]:
    return dict(context_pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name)


def test_the_contract_lives_in_package_fleet_context_v1() -> None:
    assert context_pb2.DESCRIPTOR.package == PACKAGE


def test_the_contract_file_uses_proto3_syntax() -> None:
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(context_pb2.DESCRIPTOR.serialized_pb)
    assert file_proto.syntax == "proto3"


def test_the_contract_declares_exactly_one_service_named_context_service() -> None:
    assert list(context_pb2.DESCRIPTOR.services_by_name) == [SERVICE]


def test_context_service_has_exactly_the_contract_rpcs() -> None:
    assert sorted(_service_methods()) == sorted(CONTRACT_RPCS)


@pytest.mark.parametrize(("rpc", "types"), CONTRACT_RPCS.items(), ids=list(CONTRACT_RPCS))
def test_every_rpc_takes_and_returns_the_contract_messages(rpc: str, types: tuple[str, str]) -> None:
    method = context_pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name[rpc]
    request, response = types
    assert (method.input_type.full_name, method.output_type.full_name) == (
        _qualified(request),
        _qualified(response),
    )


@pytest.mark.parametrize("rpc", CONTRACT_RPCS)
def test_every_rpc_is_unary(rpc: str) -> None:
    method = context_pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name[rpc]
    assert (method.client_streaming, method.server_streaming) == (False, False)


def test_the_contract_declares_exactly_the_contract_messages() -> None:
    assert sorted(context_pb2.DESCRIPTOR.message_types_by_name) == sorted(CONTRACT_MESSAGES)


def test_the_contract_declares_no_enums_or_extensions() -> None:
    assert dict(context_pb2.DESCRIPTOR.enum_types_by_name) == {}
    assert dict(context_pb2.DESCRIPTOR.extensions_by_name) == {}


@pytest.mark.parametrize(("message", "fields"), CONTRACT_MESSAGES.items(), ids=list(CONTRACT_MESSAGES))
def test_every_message_has_exactly_the_contract_fields(message: str, fields: list[Field]) -> None:
    actual = sorted(
        (field.number, field.name, _type_of(field), _label_of(field)) for field in _message(message).fields
    )
    expected = sorted((number, name, _qualified(type_), label) for number, name, type_, label in fields)
    assert actual == expected


@pytest.mark.parametrize("message", CONTRACT_MESSAGES)
def test_no_message_nests_anything_but_map_entries(message: str) -> None:
    descriptor = _message(message)
    map_entries = {field.message_type.name for field in descriptor.fields if _is_map(field)}
    assert sorted(nested.name for nested in descriptor.nested_types) == sorted(map_entries)
    assert list(descriptor.enum_types) == []


@pytest.mark.parametrize("message", CONTRACT_MESSAGES)
def test_no_message_declares_a_oneof_or_a_proto3_optional_field(message: str) -> None:
    # proto3 `optional` compiles to a synthetic oneof, so an empty oneof list rules out both.
    assert [oneof.name for oneof in _message(message).oneofs] == []
