"""The `graph` fixture: one fresh, isolated graph store per test, for every graph adapter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from context_service.adapters.memory.graph import InMemoryGraph
from context_service.local_servers import LocalServer
from tests.conformance.graph.observe import GraphStore
from tests.support.servers import Neo4jAddress

BACKENDS = ("memory", "falkordb", "neo4j")


@asynccontextmanager
async def _memory(_: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    async with InMemoryGraph() as store:
        yield store


@asynccontextmanager
async def _falkordb(request: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    server: LocalServer = request.getfixturevalue("falkordb")
    try:
        from context_service.adapters.falkordb.graph import FalkorGraph
    except ImportError as exc:
        pytest.fail(f"the FalkorDB graph adapter cannot be imported: {exc}")
    name = f"conformance-{uuid.uuid4().hex}"  # one graph per test: no shared state between tests
    async with FalkorGraph(url=server.url, graph=name, timeout_seconds=2.0) as store:
        try:
            yield store
        finally:
            await store.drop()


@asynccontextmanager
async def _neo4j(request: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    address: Neo4jAddress = request.getfixturevalue("neo4j_container")
    try:
        from context_service.adapters.neo4j.graph import Neo4jGraph
    except ImportError as exc:
        pytest.fail(f"the Neo4j graph adapter cannot be imported: {exc}")
    store = Neo4jGraph(
        uri=address.uri, user="neo4j", password=address.password, database="neo4j", timeout_seconds=5.0
    )
    async with store:
        try:
            yield store
        finally:
            await store.drop()  # one database for the session: delete every node after each test


OPENERS = {"memory": _memory, "falkordb": _falkordb, "neo4j": _neo4j}


@pytest.fixture(params=BACKENDS)
async def graph(request: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    """An empty graph store of the parametrised backend."""
    opener: AbstractAsyncContextManager[GraphStore] = OPENERS[request.param](request)
    async with opener as store:
        yield store


@pytest.fixture(params=BACKENDS)
async def graph_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GraphStore, GraphStore]]:
    """Two independent, empty graph stores of the parametrised backend (a source and a target)."""
    if request.param == "neo4j":
        pytest.skip("the Neo4j suite shares one database per session: no second, independent store")
    async with OPENERS[request.param](request) as first, OPENERS[request.param](request) as second:
        yield first, second
