"""The legacy reader on a real engine: a batch read holds exactly what reading each story alone holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from context_service.adapters.cypher.graph import CypherGraph
from context_service.adapters.cypher.legacy import CypherLegacyGraph
from context_service.domain.legacy import LegacyStory
from tests.support.adoption import LEGACY_BACKENDS, legacy_store
from tests.support.legacy_fixture import fixture_graph
from tests.support.legacy_graph import generated_graph

pytestmark = pytest.mark.integration


@pytest.fixture(params=LEGACY_BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CypherGraph]:
    """An empty graph of its own."""
    async with legacy_store(request.param, request) as graph:
        yield graph


def contents(story: LegacyStory) -> dict[str, Any]:
    """A story's records, each shape's in a stable order (engines return rows in any order)."""
    nodes = {shape.value: sorted(map(repr, records)) for shape, records in story.nodes.items()}
    edges = {shape.value: sorted(map(repr, records)) for shape, records in story.edges.items()}
    return {"key": story.key, "nodes": nodes, "edges": edges}


async def read_alone_and_together(reader: CypherLegacyGraph) -> tuple[list[Any], list[Any]]:
    keys = await reader.story_keys()
    alone = [contents((await reader.read_stories([key]))[0]) for key in keys]
    together = [contents(story) for story in await reader.read_stories(keys)]
    return alone, together


@pytest.mark.parametrize("indexed", [False, True], ids=["unindexed", "indexed"])
async def test_a_batch_of_fixture_stories_reads_as_each_alone(store: CypherGraph, indexed: bool) -> None:
    await fixture_graph().write(store)
    reader = CypherLegacyGraph(graph=store)
    if indexed:
        await reader.prepare()

    alone, together = await read_alone_and_together(reader)

    assert len(together) == 3
    assert together == alone


async def test_a_batch_of_generated_stories_reads_as_each_story_alone(store: CypherGraph) -> None:
    legacy = generated_graph(6, seed=3)
    await legacy.write(store)
    reader = CypherLegacyGraph(graph=store)
    await reader.prepare()

    alone, together = await read_alone_and_together(reader)

    assert together == alone
    assert sum(len(records) for story in together for records in story["nodes"].values()) == (
        legacy.node_count() - 2  # the project and the epic hang above the stories
    )
