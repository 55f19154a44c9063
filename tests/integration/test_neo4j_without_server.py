"""The Neo4j adapter without a server: a closed port, a server that never answers, TLS on the wire.

Every port call ends as UNAVAILABLE or DEADLINE_EXCEEDED within the store timeout, never INTERNAL.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from context_service.adapters.grpc.status import status_for
from context_service.adapters.neo4j.graph import Neo4jGraph
from context_service.domain.mutations import NodeKind, WriteBatch
from context_service.local_servers import free_port
from context_service.ports.errors import PortError, StoreMisconfigured, StoreTimeout, StoreUnavailable
from tests.support.sockets import BOLT_MAGIC, TLS_HANDSHAKE, SilentListener
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.integration
TIMEOUT = 0.8
OUTAGE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
Call = Callable[[Neo4jGraph], Awaitable[object]]
CALLS: dict[str, Call] = {
    "read": lambda g: g.get_story("S-1"),
    "neighbourhood": lambda g: g.neighbourhood(NodeKind.PROJECT.value, "P-1", 2, 10),
    "commit": lambda g: g.commit(WriteBatch("S-1", (), request_id="r-1")),
    "ping": lambda g: g.ping(),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA (and server certificate) for the TLS cases."""
    return make_pki(tmp_path_factory.mktemp("neo4j-pki"))


@pytest.fixture
def hung() -> Iterator[SilentListener]:
    """A port that accepts connections and never says a word."""
    with SilentListener() as listener:
        yield listener


@asynccontextmanager
async def opened(uri: str, ca: Path | None = None) -> AsyncIterator[Neo4jGraph]:
    """An adapter with its driver built (as after a successful start) but nothing verified."""
    graph = Neo4jGraph(uri=uri, user="neo4j", password="pw", timeout_seconds=TIMEOUT, trusted_ca_file=ca)
    graph.connect()
    try:
        yield graph
    finally:
        await graph.__aexit__(None, None, None)


async def outcome(call: Awaitable[object]) -> tuple[type[PortError], grpc.StatusCode, float]:
    """The port error a call raised, its gRPC status, and how long it took."""
    started = time.monotonic()
    with pytest.raises((StoreUnavailable, StoreTimeout)) as raised:
        await call
    return type(raised.value), status_for(raised.value)[0], time.monotonic() - started


@pytest.mark.parametrize("scheme", ["bolt", "neo4j"])
@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_closed_port_is_unavailable_within_the_store_timeout(scheme: str, name: str) -> None:
    async with opened(f"{scheme}://127.0.0.1:{free_port()}") as graph:
        _, code, took = await outcome(CALLS[name](graph))

        assert (code, took < TIMEOUT + 0.2) == (grpc.StatusCode.UNAVAILABLE, True)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_every_call_on_a_closed_adapter_is_unavailable_saying_so(name: str) -> None:
    async with opened(f"bolt://127.0.0.1:{free_port()}") as graph:
        pass

    with pytest.raises(StoreUnavailable, match="Neo4j adapter is closed") as raised:
        await CALLS[name](graph)

    assert status_for(raised.value)[0] == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_server_that_never_answers_is_an_outage_within_the_store_timeout(
    hung: SilentListener, name: str
) -> None:
    async with opened(f"bolt://127.0.0.1:{hung.port}") as graph:
        _, code, took = await outcome(CALLS[name](graph))

        assert (code in OUTAGE_CODES, took < TIMEOUT + 0.2) == (True, True)


async def test_start_up_against_a_closed_port_fails_fast_as_unavailable() -> None:
    graph = Neo4jGraph(
        uri=f"neo4j://127.0.0.1:{free_port()}", user="neo4j", password="pw", timeout_seconds=TIMEOUT
    )

    _, code, took = await outcome(graph.__aenter__())

    assert (code, took < TIMEOUT + 0.2) == (grpc.StatusCode.UNAVAILABLE, True)


@pytest.mark.parametrize("scheme", ["bolt", "neo4j", "neo4j+s", "bolt+s"])
async def test_a_ca_file_makes_every_scheme_open_with_a_tls_client_hello(
    hung: SilentListener, pki: Pki, scheme: str
) -> None:
    async with opened(f"{scheme}://localhost:{hung.port}", pki.ca.cert) as graph:
        await outcome(graph.ping())

        assert [first[:1] for first in hung.first_bytes][:1] == [bytes([TLS_HANDSHAKE])]


async def test_a_plain_scheme_without_a_ca_file_speaks_plaintext_bolt(hung: SilentListener) -> None:
    async with opened(f"bolt://127.0.0.1:{hung.port}") as graph:
        await outcome(graph.ping())

        assert [first[:4] for first in hung.first_bytes][:1] == [BOLT_MAGIC]


def server_tls(pki: Pki) -> ssl.SSLContext:
    """What a Neo4j server with the test CA's certificate (localhost, 127.0.0.1) presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    return context


async def test_with_the_servers_ca_the_tls_handshake_succeeds_and_bolt_runs_inside_it(pki: Pki) -> None:
    with SilentListener(tls=server_tls(pki)) as listener:
        async with opened(f"neo4j+s://localhost:{listener.port}", pki.ca.cert) as graph:
            await outcome(graph.ping())

    assert [first[:4] for first in listener.first_bytes][:1] == [BOLT_MAGIC]


async def test_a_server_certificate_the_ca_file_does_not_sign_stops_start_up_naming_the_setting(
    pki: Pki,
) -> None:
    with SilentListener(tls=server_tls(pki)) as listener:
        graph = Neo4jGraph(
            uri=f"neo4j+s://localhost:{listener.port}",
            user="neo4j",
            password="pw",
            timeout_seconds=TIMEOUT,
            trusted_ca_file=pki.rogue_ca.cert,
        )

        with pytest.raises(StoreMisconfigured, match="NEO4J_TRUSTED_CA_FILE"):
            await graph.__aenter__()
