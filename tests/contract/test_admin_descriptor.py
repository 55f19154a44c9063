"""The generated descriptor matches the fleet.context.admin.v1 contract (spec 06 §6.2) exactly."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2

from fleet.context.admin.v1 import admin_pb2
from tests.contract.descriptors import Field, field_shape

PACKAGE = "fleet.context.admin.v1"
SERVICE = "ContextAdminService"

CONTRACT_MESSAGES: dict[str, list[Field]] = {
    "GetHistoryRequest": [
        (1, "story_id", "string", ""),
        (2, "entity_id", "string", ""),
        (3, "page_size", "int32", ""),
        (4, "page_token", "string", ""),
    ],
    "HistoryRecord": [
        (1, "seq", "int64", ""),
        (2, "version", "int64", ""),
        (3, "operation", "string", ""),
        (4, "entity_type", "string", ""),
        (5, "entity_id", "string", ""),
        (6, "role", "string", ""),
        (7, "task_id", "string", ""),
        (8, "reason", "string", ""),
        (9, "timestamp", "string", ""),
        (10, "digest_before", "string", ""),
        (11, "digest_after", "string", ""),
        (12, "source", "string", ""),
    ],
    "GetHistoryResponse": [(1, "records", "HistoryRecord", "repeated"), (2, "next_page_token", "string", "")],
    "ExportStoryRequest": [(1, "story_id", "string", "")],
    "ExportStoryResponse": [(1, "document_json", "string", ""), (2, "digest", "string", "")],
    "ImportStoryRequest": [(1, "document_json", "string", ""), (2, "replace", "bool", "")],
    "ImportStoryResponse": [
        (1, "story_id", "string", ""),
        (2, "version", "int64", ""),
        (3, "nodes", "int32", ""),
        (4, "edges", "int32", ""),
        (5, "history_records", "int32", ""),
    ],
}
CONTRACT_RPCS = {
    "GetHistory": ("GetHistoryRequest", "GetHistoryResponse"),
    "ExportStory": ("ExportStoryRequest", "ExportStoryResponse"),
    "ImportStory": ("ImportStoryRequest", "ImportStoryResponse"),
}


def test_the_contract_lives_in_its_package_with_proto3_syntax() -> None:
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(admin_pb2.DESCRIPTOR.serialized_pb)
    assert (admin_pb2.DESCRIPTOR.package, file_proto.syntax) == (PACKAGE, "proto3")


def test_the_contract_declares_exactly_one_service_with_the_contract_rpcs() -> None:
    services = admin_pb2.DESCRIPTOR.services_by_name
    assert list(services) == [SERVICE]
    assert sorted(services[SERVICE].methods_by_name) == sorted(CONTRACT_RPCS)


@pytest.mark.parametrize(("rpc", "types"), CONTRACT_RPCS.items(), ids=list(CONTRACT_RPCS))
def test_every_rpc_is_unary_over_the_contract_messages(rpc: str, types: tuple[str, str]) -> None:
    method = admin_pb2.DESCRIPTOR.services_by_name[SERVICE].methods_by_name[rpc]
    assert (method.input_type.name, method.output_type.name) == types
    assert (method.client_streaming, method.server_streaming) == (False, False)


def test_the_contract_declares_exactly_the_contract_messages_and_no_enums() -> None:
    assert sorted(admin_pb2.DESCRIPTOR.message_types_by_name) == sorted(CONTRACT_MESSAGES)
    assert dict(admin_pb2.DESCRIPTOR.enum_types_by_name) == {}


@pytest.mark.parametrize(("message", "fields"), CONTRACT_MESSAGES.items(), ids=list(CONTRACT_MESSAGES))
def test_every_message_has_exactly_the_contract_fields(message: str, fields: list[Field]) -> None:
    descriptor = admin_pb2.DESCRIPTOR.message_types_by_name[message]
    assert sorted(field_shape(f) for f in descriptor.fields) == sorted(fields)
    assert (list(descriptor.nested_types), list(descriptor.oneofs)) == ([], [])
