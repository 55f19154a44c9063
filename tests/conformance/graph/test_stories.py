"""Story nodes: MERGE on create (on_create once, fields always), typed id, get_story."""

from __future__ import annotations

from context_service.domain.model import Story
from context_service.domain.mutations import CommitResult, Mutation, NodeKind
from tests.conformance.graph.builders import (
    NOW,
    STORY,
    batch,
    expected_story,
    given,
    given_story,
    story,
    task,
    transition,
)
from tests.conformance.graph.observe import GraphStore, around, ids


async def test_get_story_of_an_unknown_story_is_none(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    found = await graph.get_story("S-404")

    # Assert
    assert found is None


async def test_created_story_reads_back_with_its_on_create_values(graph: GraphStore) -> None:
    # Arrange
    await given(graph, STORY, story(STORY, phase="BUILD"))

    # Act
    found = await graph.get_story(STORY)

    # Assert
    assert found == expected_story(STORY, current_phase="BUILD")


async def test_creating_a_story_reports_version_zero_and_its_phase(graph: GraphStore) -> None:
    # Act
    result = await graph.commit(batch(STORY, story(STORY, phase="TEST")))

    # Assert
    assert result == CommitResult(version=0, current_phase="TEST", replayed=False)


async def test_story_node_carries_id_and_typed_story_id_properties(graph: GraphStore) -> None:
    # Arrange
    await given(graph, STORY, story(STORY))

    # Act
    found = await around(graph, NodeKind.STORY.value, STORY)

    # Assert
    assert (found.node.properties["id"], found.node.properties["story_id"]) == (STORY, STORY)


async def test_story_missing_properties_read_as_the_domain_defaults(graph: GraphStore) -> None:
    # Arrange
    await given(graph, STORY, Mutation(NodeKind.STORY, STORY, on_create={"title": "Bare"}))

    # Act
    found = await graph.get_story(STORY)

    # Assert
    assert found == Story(story_id=STORY, title="Bare")


async def test_creating_a_story_again_does_not_reapply_on_create(graph: GraphStore) -> None:
    # Arrange
    await given(graph, STORY, story(STORY, title="First", phase="BUILD"))

    # Act
    await graph.commit(batch(STORY, story(STORY, title="Second", phase="DESIGN")))

    # Assert
    assert await graph.get_story(STORY) == expected_story(STORY, title="First", current_phase="BUILD")


async def test_creating_a_story_twice_leaves_one_story_node(graph: GraphStore) -> None:
    # Arrange
    await given(graph, STORY, story(STORY))
    await given(graph, STORY, story(STORY))

    # Act
    await given(graph, STORY, task("T-1"))

    # Assert
    assert ids(await around(graph, NodeKind.TASK.value, "T-1")) == [(NodeKind.STORY.value, STORY)]


async def test_fields_are_written_on_create_and_win_over_on_create(graph: GraphStore) -> None:
    # Arrange
    mutation = Mutation(
        NodeKind.STORY, STORY, fields={"title": "From fields"}, on_create={"title": "From on_create"}
    )

    # Act
    await graph.commit(batch(STORY, mutation))

    # Assert
    assert await graph.get_story(STORY) == Story(story_id=STORY, title="From fields")


async def test_fields_overwrite_an_existing_story_and_keep_the_rest(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    update = Mutation(
        NodeKind.STORY, STORY, fields={"title": "Renamed", "updated_at": "2027-01-01T00:00:00.000Z"}
    )

    # Act
    await graph.commit(batch(STORY, update))

    # Assert
    assert await graph.get_story(STORY) == expected_story(
        STORY, title="Renamed", updated_at="2027-01-01T00:00:00.000Z"
    )


async def test_commit_reports_the_phase_the_batch_left_the_story_in(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)

    # Act
    result = await graph.commit(batch(STORY, *transition("PT-1"), expect_phase="DESIGN"))

    # Assert
    assert (result, await graph.get_story(STORY)) == (
        CommitResult(version=0, current_phase="BUILD"),
        expected_story(STORY, current_phase="BUILD", updated_at=NOW),
    )


async def test_every_committed_batch_bumps_the_content_revision_once(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY)
    before = await graph.get_story(STORY)

    # Act: one batch without a version bump, one with, one replay of the latter
    await graph.commit(batch(STORY, task("T-1")))
    await graph.commit(batch(STORY, task("T-2"), bump_version=True, request_id="r-1"))
    await graph.commit(batch(STORY, task("T-2"), bump_version=True, request_id="r-1"))

    # Assert
    after = await graph.get_story(STORY)
    loaded = await graph.load_story_graph(STORY)
    assert before is not None
    assert after is not None
    assert loaded is not None
    assert (after.content_revision - before.content_revision, after.context_version) == (2, 1)
    assert loaded.story.content_revision == after.content_revision


async def test_the_content_revision_is_not_a_visible_node_property(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"))

    # Act
    found = await graph.neighbourhood(NodeKind.STORY.value, STORY, 1, 10)

    # Assert
    assert found is not None
    assert not [k for k in found.node.properties if k.startswith("_")]
