"""A commit whose acknowledgement is lost is resolved by re-reading the story, on a real FalkorDB.

The Cypher commit path is shared by FalkorDB and Neo4j; Neo4j's driver reports a lost acknowledgement as
IncompleteCommit, which the adapter translates into CommitOutcomeUnknown. Here the engine is real and only
the lost acknowledgement is simulated, before or after the statement really ran.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from context_service.adapters.cypher.graph import Execute
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.domain.mutations import WriteBatch
from context_service.local_servers import LocalServer
from context_service.ports.errors import CommitOutcomeUnknown
from tests.conformance.graph.builders import STORY, batch, given_story, record, task

T = TypeVar("T")
pytestmark = pytest.mark.integration


class LosesOneAcknowledgement(FalkorGraph):
    """FalkorDB whose first commit reports a broken connection, after its write applied (`landed`) or with
    the write dropped (as a server rolls back a transaction whose client went away)."""

    def __init__(self, *, landed: bool, url: str, graph: str) -> None:
        super().__init__(url=url, graph=graph, timeout_seconds=2.0)
        self.landed = landed
        self.lost = 0

    async def _write(self, work: Callable[[Execute], Awaitable[T]], operation: str) -> T:
        if operation != "commit" or self.lost:
            return await super()._write(work, operation)
        self.lost += 1

        async def cut(run: Execute) -> T:
            async def maybe(text: str, params: dict[str, Any]) -> list[list[Any]]:
                if "attempt" in params and not self.landed:
                    return [[0, ""]]  # the write statement never applied
                return await run(text, params)

            return await work(maybe)

        await super()._write(cut, operation)
        raise CommitOutcomeUnknown("connection lost while committing", backend="test", operation=operation)


def versioned() -> WriteBatch:
    """A version-bumping batch with one change record and no request id."""
    return batch(STORY, task("T-1"), bump_version=True, history=(record("T-1"),))


@pytest.mark.parametrize("landed", [True, False], ids=["landed-before-the-loss", "lost-before-landing"])
async def test_a_commit_with_a_lost_acknowledgement_is_applied_exactly_once(
    falkordb: LocalServer, graph_name: str, landed: bool
) -> None:
    # Arrange
    async with LosesOneAcknowledgement(landed=landed, url=falkordb.url, graph=graph_name) as graph:
        await given_story(graph, STORY)
        graph.lost = 0

        # Act
        result = await graph.commit(versioned())

        # Assert
        stamped = [(h.entity_type, h.entity_id) for h in await graph.history(STORY) if h.version == 1]
        story = await graph.get_story(STORY)
        assert (graph.lost, result.version, result.replayed) == (1, 1, False)
        assert story is not None
        assert story.context_version == 1  # stored once, not only reported
        assert sorted(stamped) == sorted(set(stamped)) != []  # one application: no record twice


async def test_a_story_stored_without_a_version_still_replays_a_request(
    falkordb: LocalServer, graph_name: str
) -> None:
    # Arrange: a story as legacy data may hold it, without context_version
    async with Redis.from_url(falkordb.url) as client:
        await client.execute_command(
            "GRAPH.QUERY", graph_name, f"CREATE (:Story {{id: '{STORY}', story_id: '{STORY}'}})"
        )
    async with FalkorGraph(url=falkordb.url, graph=graph_name, timeout_seconds=2.0) as graph:
        first = await graph.commit(batch(STORY, task("T-1"), request_id="req-legacy"))

        # Act
        again = await graph.commit(batch(STORY, task("T-1"), request_id="req-legacy"))

        # Assert
        assert (first.replayed, again.replayed, again.version) == (False, True, 0)
