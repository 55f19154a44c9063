"""What the gRPC edge needs to know about a call: its method's names and the status code it ended with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import grpc

# A call's invocation metadata as grpc gives it: (key, value) pairs, a value text or (for "-bin" keys) bytes.
Metadata = Iterable[tuple[str, str | bytes]]

# Probes must answer under load and without credentials; reflection is a read-only diagnostic.
PROBE_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


def split_method(full_method: str) -> tuple[str, str]:
    """(service, short method) of a full method name such as '/fleet.context.v1.ContextService/GetContext'."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def is_probe(full_method: str) -> bool:
    """Whether the call is to the health or reflection service."""
    return split_method(full_method)[0] in PROBE_SERVICES


# How a call ends when its client goes away or its deadline passes (neither is an Exception).
_ENDED_BY_CLIENT = (asyncio.CancelledError, GeneratorExit)


def status_code_of(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status code a call ended with, from how its behaviour returned or raised."""
    if isinstance(exc, _ENDED_BY_CLIENT):
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    code: grpc.StatusCode | None = context.code()  # set by abort() or set_code()
    if code is not None:
        return code
    # A behaviour raising anything but an abort is reported to the client as UNKNOWN by grpc.
    return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN
