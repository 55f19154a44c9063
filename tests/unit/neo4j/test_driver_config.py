"""The real Neo4j driver object per URI scheme and CA file: TLS and time budgets (nothing connects)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import neo4j
import pytest

from context_service.adapters.neo4j.driver import build_driver
from context_service.ports.errors import StoreMisconfigured

CA = Path("/run/secrets/neo4j-ca.pem")  # only stored by the driver here; it is read when connecting
TIMEOUT = 2.0


@asynccontextmanager
async def driver(uri: str, ca: Path | None = None) -> AsyncIterator[neo4j.AsyncDriver]:
    """The driver as the adapter builds it, closed afterwards."""
    built = build_driver(
        uri=uri, auth=("neo4j", "pw"), trusted_ca_file=ca, timeout_seconds=TIMEOUT, max_pool_size=7
    )
    try:
        yield built
    finally:
        await built.close()


def trust(built: neo4j.AsyncDriver) -> str:
    """The name of the trust store class the driver will verify certificates with."""
    return type(built._pool.pool_config.trusted_certificates).__name__


@pytest.mark.parametrize(
    ("uri", "routing", "encrypted", "trusted"),
    [
        ("bolt://db:7687", False, False, "TrustSystemCAs"),
        ("bolt+s://db:7687", False, True, "TrustSystemCAs"),
        ("bolt+ssc://db:7687", False, True, "TrustAll"),
        ("neo4j://db:7687", True, False, "TrustSystemCAs"),
        ("neo4j://db:7687?region=eu", True, False, "TrustSystemCAs"),
        ("neo4j+s://db:7687", True, True, "TrustSystemCAs"),
        ("neo4j+ssc://db:7687", True, True, "TrustAll"),
    ],
)
async def test_each_scheme_without_a_ca_file_keeps_the_drivers_own_tls_meaning(
    uri: str, routing: bool, encrypted: bool, trusted: str
) -> None:
    async with driver(uri) as built:
        assert (isinstance(built, neo4j.AsyncNeo4jDriver), built.encrypted, trust(built)) == (
            routing,
            encrypted,
            trusted,
        )


@pytest.mark.parametrize(
    ("uri", "routing"),
    [
        ("bolt://db:7687", False),
        ("bolt+s://db:7687", False),
        ("neo4j://db:7687", True),
        ("neo4j+s://db", True),
    ],
)
async def test_a_ca_file_encrypts_and_verifies_against_that_ca_on_every_scheme(
    uri: str, routing: bool
) -> None:
    async with driver(uri, CA) as built:
        certs = built._pool.pool_config.trusted_certificates.certs
        assert (isinstance(built, neo4j.AsyncNeo4jDriver), built.encrypted, trust(built), certs) == (
            routing,
            True,
            "TrustCustomCAs",
            (str(CA),),
        )


@pytest.mark.parametrize("uri", ["bolt+ssc://db:7687", "neo4j+ssc://db:7687"])
def test_a_ca_file_with_a_scheme_that_trusts_any_certificate_is_refused(uri: str) -> None:
    with pytest.raises(StoreMisconfigured, match="NEO4J_TRUSTED_CA_FILE"):
        build_driver(
            uri=uri, auth=("neo4j", "pw"), trusted_ca_file=CA, timeout_seconds=TIMEOUT, max_pool_size=1
        )


@pytest.mark.parametrize("uri", ["http://db:7474", "db:7687", "bolt+tls://db"])
def test_a_uri_of_another_scheme_is_refused_naming_the_setting(uri: str) -> None:
    with pytest.raises(StoreMisconfigured, match="NEO4J_URI"):
        build_driver(
            uri=uri, auth=("neo4j", "pw"), trusted_ca_file=None, timeout_seconds=TIMEOUT, max_pool_size=1
        )


async def test_the_driver_gives_up_connecting_and_retrying_well_inside_the_store_timeout() -> None:
    async with driver("neo4j://db:7687") as built:
        pool, work = built._pool.pool_config, built._default_workspace_config
        # first attempt, retry window, one last delay (shorter than the window), last attempt; a connect and
        # the Bolt handshake of a new connection are bounded by the smaller of the two connection budgets
        attempt = min(pool.connection_timeout, work.connection_acquisition_timeout)
        assert 2 * attempt + 2 * work.max_transaction_retry_time < TIMEOUT


async def test_the_pool_size_setting_reaches_the_driver() -> None:
    async with driver("bolt://db:7687") as built:
        assert built._pool.pool_config.max_connection_pool_size == 7
