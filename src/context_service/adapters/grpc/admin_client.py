"""`context-service history | export | import` against a running server (fleet.context.admin.v1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
from google.protobuf import json_format

from context_service.adapters.grpc.client import Connection
from fleet.context.admin.v1 import admin_pb2 as pb
from fleet.context.admin.v1 import admin_pb2_grpc as pb_grpc

MAX_PAGE = 500
COLUMNS = ("seq", "version", "timestamp", "operation", "entity_type", "entity_id", "role", "source", "reason")


def _with_stub(connection: Connection, work: Callable[[pb_grpc.ContextAdminServiceStub], int]) -> int:
    """Run `work` with a stub for its exit status; on an RPC error print `CODE: details` and return 1."""
    with connection.channel() as channel:
        try:
            return work(pb_grpc.ContextAdminServiceStub(channel))
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            return 1


def _records(
    stub: pb_grpc.ContextAdminServiceStub, connection: Connection, story: str, entity: str, limit: int
) -> Iterator[pb.HistoryRecord]:
    """Up to `limit` records, newest first, following page tokens."""
    token, left = "", limit
    while left > 0:
        request = pb.GetHistoryRequest(
            story_id=story, entity_id=entity, page_size=min(left, MAX_PAGE), page_token=token
        )
        page = stub.GetHistory(request, timeout=connection.timeout, metadata=connection.call_metadata())
        yield from page.records
        left -= len(page.records)
        token = page.next_page_token
        if not token:
            return


def _table(records: list[pb.HistoryRecord]) -> str:
    rows = [[str(getattr(r, c)) for c in COLUMNS] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(COLUMNS)]
    lines = [[c.upper() for c in COLUMNS], *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def run_history(connection: Connection, story: str, *, entity: str, limit: int, as_json: bool) -> int:
    """Print the story's newest records: a table, or a JSON array with `as_json`."""

    def work(stub: pb_grpc.ContextAdminServiceStub) -> int:
        records = list(_records(stub, connection, story, entity, limit))
        if as_json:
            found = [json_format.MessageToDict(r, preserving_proto_field_name=True) for r in records]
            print(json.dumps(found, indent=2, ensure_ascii=False))
        else:
            print(_table(records) if records else "no history records")
        return 0

    return _with_stub(connection, work)


def run_export(connection: Connection, story: str, output: Path | None) -> int:
    """Write the snapshot document to `output` (stdout when None); its sha256 goes to stderr."""

    def work(stub: pb_grpc.ContextAdminServiceStub) -> int:
        request = pb.ExportStoryRequest(story_id=story)
        exported = stub.ExportStory(request, timeout=connection.timeout, metadata=connection.call_metadata())
        if output is None:
            sys.stdout.write(exported.document_json + "\n")
        else:
            output.write_text(exported.document_json, encoding="utf-8")
        print(f"sha256 {exported.digest}", file=sys.stderr)
        return 0

    return _with_stub(connection, work)


def run_import(connection: Connection, source: Path, *, replace: bool) -> int:
    """Load a snapshot document from a file (`-` for stdin); print what was written as JSON."""
    document = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")

    def work(stub: pb_grpc.ContextAdminServiceStub) -> int:
        request = pb.ImportStoryRequest(document_json=document.rstrip("\n"), replace=replace)
        done = stub.ImportStory(request, timeout=connection.timeout, metadata=connection.call_metadata())
        print(json_format.MessageToJson(done, preserving_proto_field_name=True, indent=2))
        return 0

    return _with_stub(connection, work)
