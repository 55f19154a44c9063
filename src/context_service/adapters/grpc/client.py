"""A small client for humans: call any ContextService RPC with a ProtoJSON request."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import grpc
from google.protobuf import json_format, symbol_database

from fleet.context.v1 import context_pb2, context_pb2_grpc

_SERVICE = context_pb2.DESCRIPTOR.services_by_name["ContextService"]


def rpc_names() -> list[str]:
    """The RPCs of fleet.context.v1.ContextService."""
    return [m.name for m in _SERVICE.methods]


def run_call(rpc: str, request_json: str, address: str, metadata: Sequence[str], timeout: float) -> int:
    """Send one request and print the ProtoJSON response (and trailers) or the status."""
    method = _SERVICE.methods_by_name.get(rpc)
    if method is None:
        print(f"unknown RPC '{rpc}'; one of: {', '.join(rpc_names())}", file=sys.stderr)
        return 2
    db = symbol_database.Default()
    request_cls = db.GetSymbol(method.input_type.full_name)
    try:
        request = json_format.Parse(request_json, request_cls())
    except json_format.ParseError as exc:
        print(f"bad --json for {rpc}: {exc}", file=sys.stderr)
        return 2
    pairs = [tuple(item.split("=", 1)) for item in metadata if "=" in item]
    with grpc.insecure_channel(address) as channel:
        stub = context_pb2_grpc.ContextServiceStub(channel)
        try:
            response, call = getattr(stub, rpc).with_call(request, timeout=timeout, metadata=pairs)
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print(json_format.MessageToJson(response, indent=2, ensure_ascii=False))
    trailers = {k: v for k, v in (call.trailing_metadata() or ()) if k.startswith("context-")}
    if trailers:
        print(json.dumps({"trailers": trailers}, indent=2), file=sys.stderr)
    return 0
