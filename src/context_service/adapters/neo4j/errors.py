"""Every exception class of the Neo4j driver translated into a port error, in one place.

Driver 6.x splits its errors into `Neo4jError` (the server answered with a status code) and `DriverError`
(raised by the driver itself). Both families are covered here; a server error is judged by its status code
first, then by its class. The driver has already retried what it deems retryable inside its managed
transaction budget, so anything left is reported, never retried again here (except an unknown commit
outcome, which the graph adapter resolves by re-reading).
"""

from __future__ import annotations

import ssl

import neo4j.exceptions as n

from context_service.ports.errors import (
    CommitOutcomeUnknown,
    PortError,
    StoreMisconfigured,
    StoreTimeout,
    StoreUnavailable,
    VersionConflict,
)

ENGINE = "Neo4j"
SETTINGS = "check NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE and NEO4J_TRUSTED_CA_FILE"

# Server status codes whose class alone says too little.
_BY_CODE: dict[str, tuple[type[PortError], str]] = {
    "Neo.ClientError.Transaction.TransactionTimedOut": (StoreTimeout, "did not finish in time"),
    "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration": (
        StoreTimeout,
        "did not finish in time",
    ),
    "Neo.ClientError.Transaction.Terminated": (StoreUnavailable, "terminated the transaction"),
    "Neo.ClientError.Transaction.LockClientStopped": (StoreUnavailable, "stopped the transaction"),
    "Neo.ClientError.Database.DatabaseNotFound": (StoreMisconfigured, f"has no such database; {SETTINGS}"),
    "Neo.ClientError.Security.AuthorizationExpired": (StoreUnavailable, "expired the authorisation"),
}

# Most specific classes first; the first match wins.
_BY_CLASS: tuple[tuple[type[BaseException], type[PortError], str], ...] = (
    (n.IncompleteCommit, CommitOutcomeUnknown, "lost the connection while committing"),
    (n.ConnectionAcquisitionTimeoutError, StoreTimeout, "gave no connection in time"),
    (n.ServiceUnavailable, StoreUnavailable, "is unavailable"),
    (n.SessionExpired, StoreUnavailable, "is unavailable (session expired)"),
    (n.ConfigurationError, StoreMisconfigured, f"refuses the driver configuration; {SETTINGS}"),
    (n.AuthError, StoreMisconfigured, f"rejected the credentials; {SETTINGS}"),
    (n.Forbidden, StoreMisconfigured, f"forbids this operation to the configured user; {SETTINGS}"),
    (n.ConstraintError, VersionConflict, "rejected a concurrent write of the same id"),
    (n.TransientError, StoreUnavailable, "is busy (transient error after the driver's retries)"),
    (n.DatabaseError, StoreUnavailable, "failed to serve the request"),
    (n.Neo4jError, PortError, "rejected the statement"),  # any other ClientError too
    (n.ConnectionPoolError, StoreUnavailable, "has no usable connection"),
    (n.TransactionError, PortError, "refused a transaction call"),
    (n.ResultError, PortError, "refused a result call"),
    (n.SessionError, PortError, "refused a session call"),
    (n.BrokenRecordError, PortError, "sent a record the driver cannot decode"),
    (n.DriverError, PortError, "driver failed"),
    (n.GqlError, PortError, "failed"),
    (OSError, StoreUnavailable, "is unreachable"),
)


def _untrusted_certificate(exc: BaseException | None, depth: int = 0) -> bool:
    """True when a TLS certificate check failed somewhere down the exception chain.

    The routing driver gathers the failures of its routers in an exception group; the search looks inside.
    """
    if exc is None or depth > 8:  # the chains are short; the bound guards against cycles
        return False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    if isinstance(exc, BaseExceptionGroup) and any(
        _untrusted_certificate(inner, depth + 1) for inner in exc.exceptions
    ):
        return True
    return _untrusted_certificate(exc.__cause__ or exc.__context__, depth + 1)


def translate(exc: BaseException, *, backend: str, operation: str) -> PortError | None:
    """The port error for a driver exception, or None when `exc` is not the driver's."""
    where = {"backend": backend, "operation": operation}
    if isinstance(exc, n.TransactionError | n.ResultFailedError) and exc.__cause__ is not None:
        # "Transaction failed" / "Result failed": the error that broke it says what happened.
        cause = translate(exc.__cause__, backend=backend, operation=operation)
        if cause is not None:
            return cause
    if isinstance(exc, n.ServiceUnavailable | OSError) and _untrusted_certificate(exc):
        message = f"{ENGINE}'s TLS certificate is not trusted; check NEO4J_TRUSTED_CA_FILE and NEO4J_URI"
        return StoreMisconfigured(message, **where)
    if isinstance(exc, n.Neo4jError) and exc.code in _BY_CODE:
        error, text = _BY_CODE[exc.code]
        return error(f"{ENGINE} {text}", **where)
    for driver_cls, error, text in _BY_CLASS:
        if isinstance(exc, driver_cls):
            return error(f"{ENGINE} {text}", **where)
    return None
