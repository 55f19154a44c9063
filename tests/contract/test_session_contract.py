"""fleet.context.session.v1: the generated descriptor matches the contract (06 §6.1, proto/session.proto),
equals the committed baseline image, and `buf breaking` against that baseline bites."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from fleet.context.session.v1 import session_pb2
from tests.contract.descriptors import Field, field_shape
from tests.contract.test_buf_breaking import BUF_EXIT_BREAKING, REPO, _run_breaking

PACKAGE = "fleet.context.session.v1"
BASELINE = REPO / "specs" / "baseline" / "fleet-context-session-v1.binpb"
PROTO = Path("specs") / "fleet" / "context" / "session" / "v1" / "session.proto"
S, I64, I32, B = "string", "int64", "int32", "bool"
OPT, REP = "optional", "repeated"

MESSAGES: dict[str, list[Field]] = {
    "SessionOptions": [(1, "default_ttl_ms", I64, OPT), (2, "max_entries", I32, ""),
                       (3, "max_entry_bytes", I32, ""), (4, "strict", B, ""), (5, "notifications", B, OPT)],
    "Session": [(1, "session_id", S, ""), (2, "options", "SessionOptions", ""), (3, "revision", I64, ""),
                (4, "entry_count", I32, ""), (5, "created_at_ms", I64, ""), (6, "updated_at_ms", I64, "")],
    "Entry": [(1, "key", S, ""), (2, "value_json", S, ""), (3, "version", I64, ""), (4, "revision", I64, ""),
              (5, "created_at_ms", I64, ""), (6, "updated_at_ms", I64, ""), (7, "expires_at_ms", I64, ""),
              (8, "source", S, ""), (9, "tags", S, REP)],
    "CreateSessionRequest": [(1, "session_id", S, ""), (2, "options", "SessionOptions", "")],
    "CreateSessionResponse": [(1, "session", "Session", ""), (2, "created", B, "")],
    "GetSessionRequest": [(1, "session_id", S, "")],
    "GetSessionResponse": [(1, "session", "Session", "")],
    "ListSessionsRequest": [(1, "prefix", S, ""), (2, "page_size", I32, ""), (3, "page_token", S, "")],
    "ListSessionsResponse": [(1, "sessions", "Session", REP), (2, "next_page_token", S, "")],
    "DropSessionRequest": [(1, "session_id", S, "")],
    "DropSessionResponse": [(1, "dropped", B, ""), (2, "entries_removed", I32, "")],
    "PutRequest": [(1, "session_id", S, ""), (2, "key", S, ""), (3, "value_json", S, ""),
                   (4, "ttl_ms", I64, OPT), (5, "source", S, ""), (6, "tags", S, REP),
                   (7, "expected_version", I64, OPT)],
    "PutResponse": [(1, "entry", "Entry", ""), (2, "evicted_keys", S, REP)],
    "GetRequest": [(1, "session_id", S, ""), (2, "key", S, "")],
    "GetResponse": [(1, "found", B, ""), (2, "entry", "Entry", "")],
    "HasRequest": [(1, "session_id", S, ""), (2, "key", S, "")],
    "HasResponse": [(1, "found", B, "")],
    "DeleteRequest": [(1, "session_id", S, ""), (2, "key", S, ""), (3, "expected_version", I64, OPT)],
    "DeleteResponse": [(1, "deleted", B, ""), (2, "revision", I64, "")],
    "BatchGetRequest": [(1, "session_id", S, ""), (2, "keys", S, REP)],
    "BatchGetResponse": [(1, "entries", "Entry", REP)],
    "PutItem": [(1, "key", S, ""), (2, "value_json", S, ""), (3, "ttl_ms", I64, OPT), (4, "source", S, ""),
                (5, "tags", S, REP), (6, "expected_version", I64, OPT)],
    "BatchPutRequest": [(1, "session_id", S, ""), (2, "items", "PutItem", REP)],
    "BatchPutResponse": [(1, "entries", "Entry", REP), (2, "revision", I64, ""), (3, "evicted_keys", S, REP)],
    "FindRequest": [(1, "session_id", S, ""), (2, "pattern", S, ""), (3, "tag", S, ""),
                    (4, "page_size", I32, ""), (5, "page_token", S, "")],
    "FindResponse": [(1, "entries", "Entry", REP), (2, "next_page_token", S, "")],
    "WatchRequest": [(1, "session_id", S, ""), (2, "pattern", S, ""), (3, "after_revision", I64, ""),
                     (4, "include_initial", B, ""), (5, "include_prev_value", B, "")],
    "WatchResponse": [(1, "type", "EventType", ""), (2, "key", S, ""), (3, "entry", "Entry", ""),
                      (4, "revision", I64, ""), (5, "prev_value_json", S, ""), (6, "initial", B, ""),
                      (7, "at_ms", I64, "")],
}  # fmt: skip
RPCS = ["CreateSession", "GetSession", "ListSessions", "DropSession", "Put", "Get", "Has", "Delete",
        "BatchGet", "BatchPut", "Find", "Watch"]  # fmt: skip
EVENT_TYPES = ["UNSPECIFIED", "SET", "DELETE", "EXPIRE", "EVICT", "PROGRESS", "SESSION_DROPPED"]


def test_the_package_and_the_one_service() -> None:
    assert session_pb2.DESCRIPTOR.package == PACKAGE
    assert list(session_pb2.DESCRIPTOR.services_by_name) == ["SessionContextService"]


def test_the_rpcs_their_messages_and_only_watch_streams() -> None:
    methods = session_pb2.DESCRIPTOR.services_by_name["SessionContextService"].methods
    assert [m.name for m in methods] == RPCS
    for m in methods:
        assert (m.input_type.name, m.output_type.name) == (f"{m.name}Request", f"{m.name}Response")
        assert (m.client_streaming, m.server_streaming) == (False, m.name == "Watch")


def test_the_messages_and_their_fields() -> None:
    declared = session_pb2.DESCRIPTOR.message_types_by_name
    assert sorted(declared) == sorted(MESSAGES)
    for name, fields in MESSAGES.items():
        assert [field_shape(f) for f in declared[name].fields] == fields, name


def test_the_event_types_and_their_numbers() -> None:
    values = session_pb2.DESCRIPTOR.enum_types_by_name["EventType"].values
    assert [(v.name, v.number) for v in values] == [(f"EVENT_TYPE_{n}", i) for i, n in enumerate(EVENT_TYPES)]


def test_the_stubs_are_built_from_the_committed_baseline_contract() -> None:
    image = descriptor_pb2.FileDescriptorSet.FromString(BASELINE.read_bytes())
    [baseline] = [f for f in image.file if f.package == PACKAGE]
    generated = descriptor_pb2.FileDescriptorProto.FromString(session_pb2.DESCRIPTOR.serialized_pb)
    for proto in (baseline, generated):
        proto.ClearField("source_code_info")
        for message in proto.message_type:
            for field in message.field:
                field.ClearField("json_name")
    assert str(generated) == str(baseline)  # text form: the images differ only in unknown-field bookkeeping


def _breaking(workspace: Path) -> subprocess.CompletedProcess[str]:
    return _run_breaking(workspace, against=BASELINE)


def test_the_unmodified_session_contract_passes_the_breaking_check(workspace: Path) -> None:
    result = _breaking(workspace)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "int64 after_revision = 3;",
            "int64 after_rev = 3;",
            'changed name from "after_revision" to "after_rev"',
        ),
        ("int64 after_revision = 3;", "int32 after_revision = 3;", 'changed type from "int64" to "int32"'),
        ("bool include_initial = 4;", "bool include_initial = 8;", 'field "4" with name "include_initial"'),
    ],
    ids=["rename", "retype", "renumber"],
)
def test_a_breaking_change_to_the_session_contract_fails_the_check(
    workspace: Path, old: str, new: str, expected: str
) -> None:
    proto = workspace / PROTO
    text = proto.read_text(encoding="utf-8")
    assert len(re.findall(re.escape(old), text)) == 1
    proto.write_text(text.replace(old, new), encoding="utf-8")
    result = _breaking(workspace)
    assert result.returncode == BUF_EXIT_BREAKING, result.stdout + result.stderr
    assert expected in result.stdout + result.stderr
