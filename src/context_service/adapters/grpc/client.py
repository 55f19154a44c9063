"""A small client for humans: call any ContextService RPC with a ProtoJSON request."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import json_format, symbol_database

from fleet.context.v1 import context_pb2, context_pb2_grpc

_SERVICE = context_pb2.DESCRIPTOR.services_by_name["ContextService"]


@dataclass(frozen=True)
class Connection:
    """How to reach a running server: address, deadline, TLS files, bearer token and extra metadata."""

    address: str = "localhost:50054"
    timeout: float = 10.0
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token: str = ""
    metadata: Sequence[str] = field(default_factory=tuple)

    def channel(self) -> grpc.Channel:
        """A plaintext channel, or a TLS one (mutual when a client certificate is given)."""
        if self.tls_ca is None and self.tls_cert is None:
            return grpc.insecure_channel(self.address)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.tls_ca.read_bytes() if self.tls_ca else None,
            private_key=self.tls_key.read_bytes() if self.tls_key else None,
            certificate_chain=self.tls_cert.read_bytes() if self.tls_cert else None,
        )
        return grpc.secure_channel(self.address, credentials)

    def call_metadata(self) -> list[tuple[str, str]]:
        """`--metadata` pairs plus the bearer token."""
        pairs = [(k, v) for k, _, v in (item.partition("=") for item in self.metadata) if k]
        return pairs + ([("authorization", f"Bearer {self.token}")] if self.token else [])


def rpc_names() -> list[str]:
    """The RPCs of fleet.context.v1.ContextService."""
    return [m.name for m in _SERVICE.methods]


def run_call(rpc: str, request_json: str, connection: Connection) -> int:
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
    with connection.channel() as channel:
        stub = context_pb2_grpc.ContextServiceStub(channel)
        try:
            response, call = getattr(stub, rpc).with_call(
                request, timeout=connection.timeout, metadata=connection.call_metadata()
            )
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print(json_format.MessageToJson(response, indent=2, ensure_ascii=False))
    trailers = {k: v for k, v in (call.trailing_metadata() or ()) if k.startswith("context-")}
    if trailers:
        print(json.dumps({"trailers": trailers}, indent=2), file=sys.stderr)
    return 0
