"""Graph stores holding a legacy database, the adoption use cases on them, and a whole-graph snapshot."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from context_service.adapters.cypher.catalogue import LAST_ATTEMPT
from context_service.adapters.cypher.graph import CypherGraph
from context_service.adapters.cypher.legacy import CypherLegacyGraph
from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.policy_file import load_policy
from context_service.application.adopt_legacy import AdoptLegacy
from context_service.application.commit_step import CommitStep
from context_service.application.prune_legacy import PruneLegacy
from context_service.ports.events import EventPublisher
from context_service.ports.kv import KeyValueStore
from context_service.ports.system import Clock
from tests.support.fakes import FixedClock
from tests.support.servers import Neo4jAddress

LEGACY_BACKENDS = ("falkordb", "neo4j")
NODES = "MATCH (n) RETURN labels(n), properties(n)"
EDGES = "MATCH (a)-[r]->(b) RETURN properties(a), type(r), properties(r), properties(b)"


@asynccontextmanager
async def legacy_store(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[CypherGraph]:
    """An empty graph of its own on the session's FalkorDB, or on Neo4j where Docker runs one."""
    if backend == "neo4j":
        address: Neo4jAddress = request.getfixturevalue("neo4j_container")
        from context_service.adapters.neo4j.graph import Neo4jGraph

        store: CypherGraph = Neo4jGraph(
            uri=address.uri, user="neo4j", password=address.password, database="neo4j", timeout_seconds=30.0
        )
    else:
        from context_service.adapters.falkordb.graph import FalkorGraph

        server = request.getfixturevalue("falkordb")
        store = FalkorGraph(url=server.url, graph=f"legacy-{uuid.uuid4().hex}", timeout_seconds=30.0)
    async with store as opened:
        try:
            yield opened
        finally:
            await opened.drop()


def adoption(
    graph: CypherGraph,
    kv: KeyValueStore,
    clock: Clock | None = None,
    publisher: EventPublisher | None = None,
) -> AdoptLegacy:
    """AdoptLegacy on a graph, with the packaged scope policy's roles."""
    clock = clock or FixedClock(step_ms=1)
    publisher = publisher or InMemoryEventPublisher()
    return AdoptLegacy(
        legacy=CypherLegacyGraph(graph=graph),
        commits=CommitStep(writer=graph, log=graph, publisher=publisher, clock=clock),
        checkpoints=kv,
        roles=load_policy().normalise_role,
        clock=clock,
    )


def pruning(graph: CypherGraph, kv: KeyValueStore) -> PruneLegacy:
    """PruneLegacy on a graph."""
    return PruneLegacy(pruner=CypherLegacyGraph(graph=graph), checkpoints=kv)


# History records carry the wall-clock time of the run that wrote them, a story the id of the last commit
# attempt (random per try); everything else must match.
PER_RUN = frozenset({"timestamp", LAST_ATTEMPT})


def _key(row: list[Any]) -> str:
    cells = [{k: v for k, v in c.items() if k not in PER_RUN} if isinstance(c, dict) else c for c in row]
    return json.dumps(cells, sort_keys=True, default=str)


async def snapshot(graph: CypherGraph) -> tuple[list[str], list[str]]:
    """Every node (labels, properties) and every edge (ends, type, properties), sorted and without the
    `timestamp` properties: equal graphs compare equal whatever their internal ids and run times."""
    nodes = await graph.read_rows(NODES, {}, "test_snapshot")
    edges = await graph.read_rows(EDGES, {}, "test_snapshot")
    return sorted(_key(row) for row in nodes), sorted(_key(row) for row in edges)


async def labelled(graph: CypherGraph, label: str, where: str = "") -> int:
    """How many nodes carry `label` (and match `where`, written against `n`)."""
    text = f"MATCH (n:{label}) {'WHERE ' + where if where else ''} RETURN count(n)"
    rows = await graph.read_rows(text, {}, "test_count")
    return int(rows[0][0])
