"""Content revisions: a write that changes what another story's load shows gives that story a new revision.

A story's load also shows some of its neighbours in other stories (a task it depends on, whether that task is
live; the tasks a decision influences). Response caches key on the revision alone, so every write must bump
the revision of each story whose load it changes, atomically with the write, and leave the others alone.
"""

from __future__ import annotations

from context_service.domain.mutations import LinkKind, Mutation, NodeKind
from context_service.ports.graph import NO_REVISION
from tests.conformance.graph.builders import (
    decision,
    epic,
    given,
    given_story,
    in_epic,
    project,
    soft_delete,
    task,
)
from tests.conformance.graph.observe import GraphStore, loaded

A, B, C = "S-A", "S-B", "S-C"


async def revisions(graph: GraphStore) -> dict[str, int]:
    """The content revision of each of the three stories, as the cache reads it (and the story node says)."""
    found = {}
    for story_id in (A, B, C):
        story = await graph.get_story(story_id)
        assert story is not None
        revision, load = await graph.load_if_changed(story_id, NO_REVISION)
        assert load is not None
        assert revision == story.content_revision == load.story.content_revision
        found[story_id] = revision
    return found


async def moved(graph: GraphStore, before: dict[str, int]) -> set[str]:
    """The stories whose revision changed since `before`."""
    now = await revisions(graph)
    return {story_id for story_id, revision in now.items() if revision != before[story_id]}


async def three_stories(graph: GraphStore) -> dict[str, int]:
    """A with task A-1; B with task B-1 depending on A-1; C alone. Their revisions after that."""
    await given_story(graph, A, task("A-1", A))
    await given_story(graph, B, task("B-1", B))
    await given_story(graph, C, task("C-1", C))
    return await revisions(graph)


async def test_a_story_that_does_not_exist_has_no_revision(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, A)

    # Act
    found = await graph.load_if_changed("S-MISSING", NO_REVISION)

    # Assert
    assert found == (None, None)


async def test_a_story_still_at_the_revision_seen_gives_only_its_revision(graph: GraphStore) -> None:
    # Arrange
    before = await three_stories(graph)

    # Act
    found = await graph.load_if_changed(A, before[A])

    # Assert
    assert found == (before[A], None)


async def test_a_story_past_the_revision_seen_gives_its_new_load(graph: GraphStore) -> None:
    # Arrange: B's task comes to depend on A's, which moves both stories on
    before = await three_stories(graph)
    await given(graph, B, task("B-1", B, deps=("A-1",)))

    # Act
    revision, load = await graph.load_if_changed(B, before[B])

    # Assert: the load is the one `load_story_graph` gives, at the revision returned
    assert revision is not None
    assert revision != before[B]
    assert load == await loaded(graph, B)
    assert load is not None
    assert load.story.content_revision == revision
    b_task = load.task("B-1")
    assert b_task is not None
    assert b_task.dependencies == ("A-1",)


async def test_a_link_into_another_story_bumps_both_stories(graph: GraphStore) -> None:
    # Arrange
    before = await three_stories(graph)

    # Act
    await given(graph, B, task("B-1", B, deps=("A-1",)))

    # Assert
    assert await moved(graph, before) == {A, B}


async def test_a_change_to_a_node_bumps_the_stories_of_its_neighbours(graph: GraphStore) -> None:
    # Arrange
    await three_stories(graph)
    await given(graph, B, task("B-1", B, deps=("A-1",)))
    before = await revisions(graph)

    # Act: A deletes the task B's task depends on
    await given(graph, A, soft_delete(NodeKind.TASK, "A-1"))

    # Assert: B's load changed (the dependency is no longer live), and so did its revision
    assert await moved(graph, before) == {A, B}
    b_task = (await loaded(graph, B)).task("B-1")
    assert b_task is not None
    assert b_task.dependencies == ()


async def test_removing_a_link_into_another_story_bumps_it(graph: GraphStore) -> None:
    # Arrange
    await three_stories(graph)
    await given(graph, B, task("B-1", B, deps=("A-1",)))
    before = await revisions(graph)

    # Act: B replaces its task's dependencies with none
    await given(graph, B, Mutation(NodeKind.TASK, "B-1", replace_links=(LinkKind.DEPENDS_ON,)))

    # Assert
    assert await moved(graph, before) == {A, B}


async def test_a_decision_influencing_another_story_bumps_it_when_made_and_when_changed(
    graph: GraphStore,
) -> None:
    # Arrange
    before = await three_stories(graph)

    # Act
    await given(graph, C, decision("D-1", C, influences=("A-1",)))
    made = await moved(graph, before)
    before = await revisions(graph)
    await given(graph, C, Mutation(NodeKind.DECISION, "D-1", fields={"title": "Renamed"}))

    # Assert
    assert (made, await moved(graph, before)) == ({A, C}, {A, C})


async def test_a_write_that_touches_no_other_story_bumps_only_its_own(graph: GraphStore) -> None:
    # Arrange
    await three_stories(graph)
    await given(graph, B, task("B-1", B, deps=("A-1",)))
    before = await revisions(graph)

    # Act: a new task of A that nothing else links to, and a change to C's lone task
    await given(graph, A, task("A-2", A))
    await given(graph, C, task("C-1", C, title="Renamed"))

    # Assert
    assert await moved(graph, before) == {A, C}


async def test_an_import_that_cuts_edges_from_another_story_bumps_it(graph: GraphStore) -> None:
    # Arrange: B's task depends on A's task; A's snapshot carries only A's own edges
    await three_stories(graph)
    await given(graph, B, task("B-1", B, deps=("A-1",)))
    snapshot = await graph.export_story(A)
    assert snapshot is not None
    before = await revisions(graph)

    # Act
    await graph.import_story(snapshot, replace=True)

    # Assert
    assert await moved(graph, before) == {A, B}


async def test_a_write_to_the_epic_above_stories_bumps_none_of_them(graph: GraphStore) -> None:
    # Arrange: A and B under one epic (which no story's load shows)
    await three_stories(graph)
    await given(graph, "", project("P-1"), epic("E-1", "P-1"))
    await given(graph, A, in_epic(A, "E-1"))
    await given(graph, B, in_epic(B, "E-1"))
    before = await revisions(graph)

    # Act: the planning service records the epic again (as a replayed event does)
    await given(graph, "", epic("E-1", "P-1"))

    # Assert
    assert await moved(graph, before) == set()
