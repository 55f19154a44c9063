"""The one table from error classes to gRPC status codes; internals never reach the client."""

from __future__ import annotations

import asyncio

import grpc

from context_service.domain import errors as d
from context_service.ports import errors as p

# Most specific classes first; the first match wins.
_DOMAIN_CODES: tuple[tuple[type[d.DomainError], grpc.StatusCode], ...] = (
    (d.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (d.NotFound, grpc.StatusCode.NOT_FOUND),
    (d.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (d.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (d.Aborted, grpc.StatusCode.ABORTED),
    (d.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (d.OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
)
_PORT_CODES: tuple[tuple[type[p.PortError], grpc.StatusCode, str], ...] = (
    (p.StoreTimeout, grpc.StatusCode.DEADLINE_EXCEEDED, "a backing store did not answer in time"),
    (p.StoreUnavailable, grpc.StatusCode.UNAVAILABLE, "a backing store is unavailable; retry later"),
    (p.VersionConflict, grpc.StatusCode.ABORTED, "a concurrent write won; retry"),
    (p.OwnershipConflict, grpc.StatusCode.ALREADY_EXISTS, ""),
    (p.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION, "the story changed state; retry"),
    (p.StoryMissing, grpc.StatusCode.NOT_FOUND, "story not found"),
)
INTERNAL_MESSAGE = "internal error"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Status code and client-safe message for an exception raised by a use case."""
    for domain_cls, code in _DOMAIN_CODES:
        if isinstance(exc, domain_cls):
            return code, exc.message
    for port_cls, code, message in _PORT_CODES:
        if isinstance(exc, port_cls):
            return code, message or str(exc)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
