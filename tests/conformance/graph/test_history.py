"""Change history: one record per changed entity, stamped by the store, newest first, paged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from context_service.domain.mutations import CommitResult
from context_service.domain.snapshot import StorySubgraph
from tests.conformance.graph.builders import (
    OTHER_STORY,
    STORY,
    batch,
    given_story,
    plain,
    record,
    stamped,
    task,
)
from tests.conformance.graph.observe import GraphStore


async def story_with_five_versions(graph: GraphStore) -> None:
    """STORY at version 5: two creation records at version 0 (story, T-1), then one record per version."""
    await given_story(graph, STORY, task("T-1"))
    for i in range(1, 6):
        await graph.commit(
            batch(STORY, task("T-1", status=f"S{i}"), bump_version=True, history=(record("T-1"),))
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
    newest = (await graph.history(STORY))[:2]
    assert [plain(r) for r in newest] == [stamped("T-4", 2, "k-1"), stamped("T-3", 2, "k-1")]


async def test_history_without_a_request_id_is_stamped_with_an_empty_one(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    await graph.commit(
        batch(STORY, task("T-1"), bump_version=True, history=(record("T-1", operation="CREATE"),))
    )

    # Assert
    [newest, *_] = await graph.history(STORY)
    assert (newest.entity_id, newest.version, newest.request_id, newest.operation) == ("T-1", 1, "", "CREATE")


async def test_batch_without_bump_records_its_history_at_the_current_version(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True))

    # Act
    await graph.commit(batch(STORY, task("T-2"), history=(record("T-2", operation="CREATE"),)))

    # Assert
    [newest, *_] = await graph.history(STORY)
    assert (newest.entity_id, newest.version, newest.operation) == ("T-2", 1, "CREATE")


async def test_history_is_newest_first(graph: GraphStore) -> None:
    # Arrange
    await story_with_five_versions(graph)

    # Act
    history = await graph.history(STORY)

    # Assert
    assert [plain(r) for r in history[:5]] == [stamped("T-1", v) for v in (5, 4, 3, 2, 1)]
    assert [(r.version, r.entity_type) for r in history[5:]] == [(0, "SUBTASK"), (0, "CASE")]


@pytest.mark.parametrize(
    ("before_seq", "limit", "expected"),
    [
        (0, 2, [5, 4]),  # seqs 1 and 2: the story's and the task's creation, at version 0
        (7, 100, [4, 3, 2, 1, 0, 0]),
        (6, 2, [3, 2]),
        (4, 100, [1, 0, 0]),
        (3, 100, [0, 0]),
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
    assert [(r.entity_type, r.entity_id) for r in history] == [("CASE", OTHER_STORY)]


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


async def test_every_written_entity_gets_a_record_with_its_digests_and_source(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act: T-1 changes, T-2 is new; neither was staged by the caller
    await graph.commit(batch(STORY, task("T-1", status="DONE"), task("T-2"), source="CreateTask"))

    # Assert
    t2, t1, *_ = await graph.history(STORY)
    assert [(r.entity_id, r.operation, r.source) for r in (t1, t2)] == [
        ("T-1", "UPDATE", "CreateTask"),
        ("T-2", "CREATE", "CreateTask"),
    ]
    assert (t2.digest_before, len(t2.digest_after)) == ("", 64)
    assert "" not in (t1.digest_before, t1.digest_after)
    assert t1.digest_before != t1.digest_after


async def test_a_rewrite_that_changes_nothing_records_nothing(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))
    before = await graph.history(STORY)

    # Act
    await graph.commit(batch(STORY, task("T-1")))

    # Assert
    assert await graph.history(STORY) == before


async def test_a_replayed_request_records_nothing(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    await graph.commit(batch(STORY, task("T-1"), bump_version=True, request_id="r-1"))
    before = await graph.history(STORY)

    # Act
    await graph.commit(batch(STORY, task("T-1", status="DONE"), bump_version=True, request_id="r-1"))

    # Assert
    assert await graph.history(STORY) == before


async def test_a_deleted_entity_has_no_digest_after_and_seqs_only_increase(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    await graph.commit(batch(STORY, task("T-1", status="DELETED")))

    # Assert
    history = await graph.history(STORY)
    assert (history[0].operation, history[0].digest_after) == ("DELETE", "")
    assert [r.seq for r in history] == list(range(len(history), 0, -1))


@pytest.mark.parametrize("size", [1, 3, 50])
async def test_pages_walk_every_record_across_gaps_in_the_seqs(graph: GraphStore, size: int) -> None:
    # Arrange: seqs with gaps, as a trimmed or hand-made snapshot leaves them
    seqs = [1, 2, 3, 10, 11, 12, 30, 31]
    history = tuple(replace(record("T-1"), seq=seq, version=seq) for seq in seqs)
    await graph.import_story(
        StorySubgraph(story={"id": STORY, "story_id": STORY}, history=history), replace=False
    )

    # Act
    pages, before = [], 0
    while page := await graph.history(STORY, limit=size, before_seq=before):
        pages.append([r.seq for r in page])
        before = page[-1].seq

    # Assert
    assert all(len(page) == size for page in pages[:-1])
    assert [seq for page in pages for seq in page] == sorted(seqs, reverse=True)
