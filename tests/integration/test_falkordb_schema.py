"""The FalkorDB schema step is safe when several replicas start at once on a fresh graph."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from context_service.adapters.cypher.catalogue import SCHEMA_LABELS
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer

REPLICAS = 4


async def unique_on_id(graph: FalkorGraph) -> list[str]:
    """The labels with a uniqueness constraint on `id`."""
    constraints = await graph._graph.list_constraints()  # type: ignore[union-attr]
    return sorted(c["label"] for c in constraints if tuple(c["properties"]) == ("id",))


async def test_replicas_migrating_a_fresh_graph_at_once_all_succeed(falkordb: LocalServer) -> None:
    # Arrange
    name = f"schema-race-{uuid.uuid4().hex}"
    graphs = [FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=10) for _ in range(REPLICAS)]
    for graph in graphs:
        await graph.__aenter__()
    try:
        # Act
        await asyncio.gather(*(graph.migrate() for graph in graphs))

        # Assert
        assert await unique_on_id(graphs[0]) == sorted(SCHEMA_LABELS)
    finally:
        await graphs[0].drop()
        for graph in graphs:
            await graph.__aexit__(None, None, None)


async def test_a_replica_that_listed_before_another_created_the_constraints_still_starts(
    falkordb: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: one replica created everything; the other's listing predates that (FalkorDB answers the
    # second creation with "Constraint already exists")
    name = f"schema-race-{uuid.uuid4().hex}"
    async with (
        FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=10) as first,
        FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=10) as late,
    ):
        try:
            await first.migrate()

            async def listed_too_early(*_: Any) -> list[dict[str, Any]]:
                return []

            monkeypatch.setattr(late._graph, "list_constraints", listed_too_early)

            # Act
            await late.migrate()

            # Assert
            assert await unique_on_id(first) == sorted(SCHEMA_LABELS)
        finally:
            await first.drop()
