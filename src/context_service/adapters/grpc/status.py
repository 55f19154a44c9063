"""gRPC status for an exception: the code names and messages come from the one error table."""

from __future__ import annotations

import grpc

from context_service.application.errors_table import report_for


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Status code and client-safe message for an exception raised by a use case."""
    found = report_for(exc)
    return grpc.StatusCode[found.code], found.message
