"""Every exception class of the installed Neo4j driver becomes a port error with the right gRPC status."""

from __future__ import annotations

import inspect
import ssl

import grpc
import neo4j.exceptions as n
import pytest

from context_service.adapters.grpc.status import status_for
from context_service.adapters.neo4j.errors import translate
from context_service.application.errors_table import report_for
from context_service.ports import errors as p

DRIVER_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(n, inspect.isclass) if issubclass(cls, n.GqlError)),
    key=lambda cls: cls.__name__,
)
# Errors a session, transaction or result raises about itself take that object first.
OWNED = (n.SessionError, n.TransactionError, n.ResultError)


def instance(cls: type[n.GqlError]) -> BaseException:
    """An instance built the way the driver builds it."""
    return cls(None, "boom") if issubclass(cls, OWNED) else cls("boom")


def from_server(code: str) -> n.Neo4jError:
    """The error the driver raises for a FAILURE message with this status code (its own class selection)."""
    return n.Neo4jError._hydrate_neo4j(code=code, message="from the server")


def chained(error: BaseException, cause: BaseException) -> BaseException:
    """`error` raised from `cause`, as the driver chains them."""
    error.__cause__ = cause
    return error


def port_error(exc: BaseException) -> p.PortError:
    """The translation, which must exist."""
    translated = translate(exc, backend="neo4j", operation="test")
    assert translated is not None
    return translated


@pytest.mark.parametrize("cls", DRIVER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_driver_exception_class_becomes_a_port_error(cls: type[n.GqlError]) -> None:
    assert isinstance(port_error(instance(cls)), p.PortError)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (n.ServiceUnavailable("down"), p.StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
        (n.RoutingServiceUnavailable("no router"), p.StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
        (n.SessionExpired("gone"), p.StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
        (n.IncompleteCommit("cut"), p.CommitOutcomeUnknown, grpc.StatusCode.ABORTED),
        (n.ConnectionAcquisitionTimeoutError("busy"), p.StoreTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
        (n.ConfigurationError("bad"), p.StoreMisconfigured, grpc.StatusCode.UNAVAILABLE),
        (n.CertificateConfigurationError("bad"), p.StoreMisconfigured, grpc.StatusCode.UNAVAILABLE),
        (
            from_server("Neo.TransientError.Transaction.DeadlockDetected"),
            p.StoreUnavailable,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (
            from_server("Neo.TransientError.General.DatabaseUnavailable"),
            p.StoreUnavailable,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (from_server("Neo.ClientError.Cluster.NotALeader"), p.StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
        (
            from_server("Neo.ClientError.Transaction.TransactionTimedOut"),
            p.StoreTimeout,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ),
        (
            from_server("Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration"),
            p.StoreTimeout,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ),
        (
            from_server("Neo.ClientError.Transaction.Terminated"),
            p.StoreUnavailable,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (
            from_server("Neo.ClientError.Security.Unauthorized"),
            p.StoreMisconfigured,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (
            from_server("Neo.ClientError.Security.Forbidden"),
            p.StoreMisconfigured,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (
            from_server("Neo.ClientError.Database.DatabaseNotFound"),
            p.StoreMisconfigured,
            grpc.StatusCode.UNAVAILABLE,
        ),
        (
            from_server("Neo.ClientError.Schema.ConstraintValidationFailed"),
            p.VersionConflict,
            grpc.StatusCode.ABORTED,
        ),
        (
            from_server("Neo.DatabaseError.General.UnknownError"),
            p.StoreUnavailable,
            grpc.StatusCode.UNAVAILABLE,
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_outages_timeouts_and_refused_settings_get_a_retryable_status_never_internal(
    exc: BaseException, expected: type[p.PortError], code: grpc.StatusCode
) -> None:
    translated = port_error(exc)

    assert (type(translated), status_for(translated)[0]) == (expected, code)


def test_a_statement_the_server_cannot_parse_stays_an_internal_fault() -> None:
    translated = port_error(from_server("Neo.ClientError.Statement.SyntaxError"))

    assert (type(translated), status_for(translated)[0]) == (p.PortError, grpc.StatusCode.INTERNAL)


def test_a_failed_transaction_is_judged_by_the_error_that_broke_it() -> None:
    broken = chained(n.TransactionError(None, "Transaction failed"), n.ServiceUnavailable("connection lost"))

    assert type(port_error(broken)) is p.StoreUnavailable


def test_a_failed_result_is_judged_by_the_error_that_broke_it() -> None:
    broken = chained(
        n.ResultFailedError(None, "failed"), from_server("Neo.ClientError.Transaction.TransactionTimedOut")
    )

    assert type(port_error(broken)) is p.StoreTimeout


def test_an_untrusted_server_certificate_is_a_setting_to_fix_not_an_outage() -> None:
    refused = chained(
        n.ServiceUnavailable("Failed to establish encrypted connection"), ssl.SSLCertVerificationError(1)
    )

    translated = port_error(refused)

    assert (type(translated), "NEO4J_TRUSTED_CA_FILE" in str(translated)) == (p.StoreMisconfigured, True)


def test_an_exception_that_is_not_the_drivers_is_left_alone() -> None:
    assert translate(ValueError("ours"), backend="neo4j", operation="test") is None


def test_an_untrusted_certificate_behind_every_router_is_found_inside_the_routing_failure() -> None:
    router = chained(n.ServiceUnavailable("router failed"), ssl.SSLCertVerificationError(1))
    routing = chained(
        n.ServiceUnavailable("Unable to retrieve routing information"), ExceptionGroup("routers", [router])
    )

    assert type(port_error(routing)) is p.StoreMisconfigured


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (n.IncompleteCommit("cut"), False),
        (n.ConfigurationError("bad"), True),
        (n.ServiceUnavailable("down"), True),
    ],
    ids=["unknown-commit-outcome", "misconfigured", "unavailable"],
)
def test_the_error_table_retries_an_outage_but_never_a_write_that_may_have_landed(
    exc: BaseException, retryable: bool
) -> None:
    assert report_for(port_error(exc)).retryable is retryable
