"""The grouped commit statement creates each edge once, on a real FalkorDB.

Edges to nodes the preflight did not find are CREATEd (cheaper than MERGE on FalkorDB); the read ports merge
parallel edges, so only a raw count shows that a node upserted twice, a link drawn twice or a batch run again
never leaves a second edge.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.domain.mutations import Link, LinkKind, Mutation, NodeKind
from context_service.local_servers import LocalServer
from tests.conformance.graph.builders import STORY, batch, given_story

pytestmark = pytest.mark.integration

EDGES = """
MATCH (s:Story {id: $story})-[r]->(n) RETURN type(r) AS type, n.id AS id, count(r) AS edges
UNION ALL
MATCH (a:Task {story_id: $story})-[r:DEPENDS_ON]->(n) RETURN type(r) AS type, a.id + '>' + n.id AS id,
  count(r) AS edges
"""


@pytest.fixture
async def store(falkordb: LocalServer) -> AsyncIterator[FalkorGraph]:
    """A fresh graph of the session's FalkorDB, deleted afterwards."""
    async with FalkorGraph(url=falkordb.url, graph=f"edges-{uuid.uuid4().hex}") as graph:
        try:
            yield graph
        finally:
            await graph.drop()


def _task(task_id: str, *deps: str, title: str = "") -> Mutation:
    """A task mutation of the grouped form (no replaced links)."""
    links = tuple(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, d) for d in deps)
    fields = {"title": title or f"Task {task_id}"}
    return Mutation(NodeKind.TASK, task_id, fields, {"story_id": STORY, "status": "PENDING"}, links)


async def _edges(store: FalkorGraph, *, history: bool = False) -> dict[tuple[str, str], int]:
    """Edges per (type, far end) from the story, and DEPENDS_ON among its tasks; HAS_CHANGE only if asked."""
    rows = await store.read_rows(EDGES, {"story": STORY}, "test_edges")
    found = {(str(kind), str(node)): int(n) for kind, node, n in rows}
    return {k: n for k, n in found.items() if history or k[0] != "HAS_CHANGE"}


async def test_a_node_upserted_twice_and_a_link_drawn_twice_in_one_batch_leave_one_edge_each(
    store: FalkorGraph,
) -> None:
    # Arrange
    await given_story(store, STORY)
    twice = (_task("T-1"), _task("T-2", "T-1"), _task("T-2", "T-1", title="again"))

    # Act
    await store.commit(batch(STORY, *twice, bump_version=True))

    # Assert
    assert await _edges(store) == {
        ("HAS_TASK", "T-1"): 1,
        ("HAS_TASK", "T-2"): 1,
        ("DEPENDS_ON", "T-2>T-1"): 1,
    }
    graph = await store.load_story_graph(STORY)
    assert graph is not None
    assert [t.title for t in graph.tasks if t.task_id == "T-2"] == ["again"]


async def test_a_batch_run_again_on_stored_nodes_merges_its_edges_instead_of_adding_them(
    store: FalkorGraph,
) -> None:
    # Arrange
    await given_story(store, STORY)
    tasks = (_task("T-1"), _task("T-2", "T-1"))
    await store.commit(batch(STORY, *tasks))

    # Act
    await store.commit(batch(STORY, *tasks))

    # Assert
    assert await _edges(store) == {
        ("HAS_TASK", "T-1"): 1,
        ("HAS_TASK", "T-2"): 1,
        ("DEPENDS_ON", "T-2>T-1"): 1,
    }


async def test_every_change_record_is_linked_to_its_story_once(store: FalkorGraph) -> None:
    # Arrange
    await given_story(store, STORY)

    # Act
    for title in ("one", "two"):
        await store.commit(batch(STORY, _task("T-1", title=title), bump_version=True))

    # Assert
    edges = await _edges(store, history=True)
    changes = {node: n for (kind, node), n in edges.items() if kind == "HAS_CHANGE"}
    assert len(changes) == len(await store.history(STORY)) >= 2
    assert set(changes.values()) == {1}
