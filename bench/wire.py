"""gRPC framing for an HTTP/2 load generator: request bodies on disk and the echo's method paths."""

from __future__ import annotations

import struct
from pathlib import Path

from google.protobuf.message import Message

ECHO_SERVICE = "bench.Echo"
ECHO_PREFIX = f"/{ECHO_SERVICE}/Reply"
# What every gRPC request over plain HTTP/2 carries besides the body (h2load sends POST with -d).
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


def frame(payload: bytes) -> bytes:
    """One length-prefixed gRPC message: uncompressed flag, 4-byte big-endian length, the bytes."""
    return struct.pack(">BI", 0, len(payload)) + payload


def body_file(directory: Path, name: str, request: Message) -> Path:
    """The framed serialized request, written once where the load generator can read it."""
    path = directory / f"{name}.grpc"
    path.write_bytes(frame(request.SerializeToString()))
    return path


def echo_path(reply_bytes: int) -> str:
    """The echo method that answers with exactly `reply_bytes` bytes of serialized reply."""
    return f"{ECHO_PREFIX}{reply_bytes}"


def reply_bytes_of(method: str) -> int | None:
    """The reply size an echo method path asks for; None for any other path."""
    if not method.startswith(ECHO_PREFIX):
        return None
    size = method.removeprefix(ECHO_PREFIX)
    return int(size) if size.isdigit() else None
