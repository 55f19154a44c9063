"""How the Neo4j driver is built: URI scheme and TLS, and time budgets that fit inside the store timeout.

A CA file needs the driver's explicit TLS options, which the `+s` schemes forbid; so with a CA file a `+s`
scheme becomes its plain scheme with `encrypted=True` and that CA (the same verification, another trust
root), and a plain scheme with a CA file is encrypted too instead of silently staying plaintext. A `+ssc`
scheme trusts any certificate, which contradicts a CA file: refused. Building the driver never connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import neo4j.exceptions as neo4j_errors

from context_service.config import NEO4J_SCHEMES
from context_service.ports.errors import StoreMisconfigured

BACKEND = "neo4j"
# Managed-transaction retries (deadlocks, leader switches) back off from here, doubling, within the budget.
FIRST_RETRY_DELAY = 0.05


@dataclass(frozen=True)
class Budgets:
    """Driver time limits derived from the store timeout, so the driver gives up before the adapter does."""

    connect: float
    acquire: float
    retry: float

    @classmethod
    def within(cls, timeout_seconds: float) -> Budgets:
        """A connect attempt gets a quarter of the timeout; no retry starts after an eighth has passed.

        The driver starts its retry clock after the first attempt and sleeps at most one delay (shorter than
        the retry budget) before the last one, so even against a server that accepts connections and never
        answers it reports the outage after 2 x connect + 2 x retry = three quarters of the store timeout.
        """
        quarter = timeout_seconds / 4
        # The acquisition deadline also bounds the Bolt handshake of a new connection (driver 6.x), so it
        # gets the same quarter: a server that accepts and never answers costs one quarter per attempt.
        return cls(connect=quarter, acquire=quarter, retry=timeout_seconds / 8)


def _misconfigured(message: str) -> StoreMisconfigured:
    return StoreMisconfigured(message, backend=BACKEND, operation="configure")


def transport(uri: str, trusted_ca_file: Path | None) -> tuple[str, dict[str, Any]]:
    """The URI to hand the driver and its TLS options."""
    scheme, separator, rest = uri.partition("://")
    if not separator or scheme not in NEO4J_SCHEMES:
        raise _misconfigured(
            f"NEO4J_URI must start with one of {', '.join(s + '://' for s in NEO4J_SCHEMES)}"
        )
    if trusted_ca_file is None:
        return uri, {}
    base, _, security = scheme.partition("+")
    if security == "ssc":
        raise _misconfigured(
            f"NEO4J_TRUSTED_CA_FILE cannot be used with {scheme}:// (it trusts any certificate); "
            f"use {base}+s:// or {base}://"
        )
    tls = {"encrypted": True, "trusted_certificates": neo4j.TrustCustomCAs(str(trusted_ca_file))}
    return f"{base}://{rest}", tls


def driver_options(*, timeout_seconds: float, max_pool_size: int) -> dict[str, Any]:
    """Pool size and time budgets (the driver's defaults wait 30-60 s, far beyond the store timeout)."""
    budgets = Budgets.within(timeout_seconds)
    return {
        "max_connection_pool_size": max_pool_size,
        "connection_timeout": budgets.connect,
        "connection_acquisition_timeout": budgets.acquire,
        "max_transaction_retry_time": budgets.retry,
        "initial_retry_delay": FIRST_RETRY_DELAY,
    }


def build_driver(
    *,
    uri: str,
    auth: tuple[str, str],
    trusted_ca_file: Path | None,
    timeout_seconds: float,
    max_pool_size: int,
) -> neo4j.AsyncDriver:
    """The driver object (no connection is made); a setting the driver refuses becomes StoreMisconfigured."""
    target, tls = transport(uri, trusted_ca_file)
    options = driver_options(timeout_seconds=timeout_seconds, max_pool_size=max_pool_size)
    try:
        return neo4j.AsyncGraphDatabase.driver(target, auth=auth, **options, **tls)
    except (neo4j_errors.ConfigurationError, ValueError, TypeError) as exc:
        raise _misconfigured(f"Neo4j refuses the settings: {exc}") from exc
