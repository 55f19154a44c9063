"""Version bumps and change history: stamped with version and request_id, newest first, paged."""

from __future__ import annotations

import pytest

from context_service.domain.mutations import CommitResult
from tests.conformance.graph.builders import (
    OTHER_STORY,
    STORY,
    batch,
    given_story,
    record,
    stamped,
    task,
)
from tests.conformance.graph.observe import GraphStore


async def story_with_five_versions(graph: GraphStore) -> None:
    """STORY at version 5, one history record per version (entities E1..E5)."""
    await given_story(graph, STORY, task("T-1"))
    for i in range(1, 6):
        await graph.commit(
            batch(STORY, task("T-1", status=f"S{i}"), bump_version=True, history=(record(f"E{i}"),))
        )


async def test_bumping_batch_raises_the_version_by_one_whatever_its_size(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    result = await graph.commit(batch(STORY, task("T-1"), task("T-2"), task("T-3"), bump_version=True))

    # Assert
    story = await graph.get_story(STORY)
    assert (result, story.context_version if story else None) == (CommitResult(1, "DESIGN"), 1)


async def test_consecutive_bumping_batches_count_up_by_one(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    versions = [
        (await graph.commit(batch(STORY, task("T-1", status=f"S{i}"), bump_version=True))).version
        for i in range(3)
    ]

    # Assert
    assert versions == [1, 2, 3]


async def test_batch_without_bump_reports_and_keeps_the_current_version(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True))

    # Act
    result = await graph.commit(batch(STORY, task("T-2")))

    # Assert
    story = await graph.get_story(STORY)
    assert (result.version, story.context_version if story else None) == (1, 1)


async def test_history_is_stamped_with_the_committed_version_and_request_id(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))
    await graph.commit(batch(STORY, task("T-1", status="DONE"), bump_version=True))

    # Act
    await graph.commit(
        batch(
            STORY,
            task("T-3"),
            task("T-4"),
            bump_version=True,
            history=(record("T-3"), record("T-4")),
            request_id="k-1",
        )
    )

    # Assert
    assert await graph.history(STORY) == [stamped("T-4", 2, "k-1", seq=2), stamped("T-3", 2, "k-1", seq=1)]


async def test_history_without_a_request_id_is_stamped_with_an_empty_one(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await graph.commit(
        batch(STORY, task("T-1"), bump_version=True, history=(record("T-1", operation="CREATE"),))
    )

    # Assert
    history = await graph.history(STORY)
    assert [(r.version, r.request_id, r.operation) for r in history] == [(1, "", "CREATE")]


async def test_batch_without_bump_records_no_history(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await graph.commit(batch(STORY, task("T-1"), history=(record("T-1"),)))

    # Assert
    assert await graph.history(STORY) == []


async def test_history_is_newest_first(graph: GraphStore) -> None:
    # Arrange
    await story_with_five_versions(graph)

    # Act
    history = await graph.history(STORY)

    # Assert
    assert history == [stamped(f"E{v}", v) for v in (5, 4, 3, 2, 1)]


@pytest.mark.parametrize(
    ("before_seq", "limit", "expected"),
    [
        (0, 2, [5, 4]),
        (5, 100, [4, 3, 2, 1]),
        (4, 2, [3, 2]),
        (2, 100, [1]),
        (1, 100, []),
        (99, 1, [5]),
    ],
)
async def test_history_pages_back_below_before_seq_up_to_limit(
    graph: GraphStore, before_seq: int, limit: int, expected: list[int]
) -> None:
    # Arrange
    await story_with_five_versions(graph)

    # Act
    history = await graph.history(STORY, limit=limit, before_seq=before_seq)

    # Assert
    assert [r.version for r in history] == expected


async def test_history_belongs_to_its_story(graph: GraphStore) -> None:
    # Arrange
    await story_with_five_versions(graph)
    await given_story(graph, OTHER_STORY)

    # Act
    history = await graph.history(OTHER_STORY)

    # Assert
    assert history == []


async def test_history_of_an_unknown_story_is_empty(graph: GraphStore) -> None:
    # Act
    history = await graph.history("S-404")

    # Assert
    assert history == []


async def test_matching_expect_phase_commits(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    result = await graph.commit(batch(STORY, task("T-1"), expect_phase="DESIGN", bump_version=True))

    # Assert
    assert result == CommitResult(version=1, current_phase="DESIGN")
