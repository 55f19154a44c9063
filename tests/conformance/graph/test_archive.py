"""Story archive: the whole stored subgraph out (export) and back in (import), all or nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from context_service.domain.mutations import LinkKind, NodeKind
from context_service.domain.snapshot import NodeRef, StoredEdge, StoredNode, StorySubgraph
from context_service.ports.errors import OwnershipConflict, StoryExists
from tests.conformance.graph.builders import (
    ORIGIN,
    OTHER_STORY,
    STORY,
    batch,
    decision,
    epic,
    given,
    given_story,
    in_epic,
    milestone,
    plan,
    project,
    record,
    soft_delete,
    task,
    transition,
)
from tests.conformance.graph.observe import GraphStore, snapshot


async def rich_story(graph: GraphStore, story_id: str = STORY, prefix: str = "") -> None:
    """A story under an epic and project, with a plan, tasks (one soft-deleted), decisions, a milestone,
    a transition and three history records."""
    p = prefix
    await given(graph, "", project(f"{p}P-1"), epic(f"{p}E-1", f"{p}P-1"))
    await given_story(graph, story_id)
    await given(graph, story_id, in_epic(story_id, f"{p}E-1"), plan(f"{p}PL-1", story_id))
    await given(
        graph,
        story_id,
        task(f"{p}T-1", story_id, plan_id=f"{p}PL-1", origin=ORIGIN),
        task(f"{p}T-2", story_id, deps=(f"{p}T-1",)),
        task(f"{p}T-3", story_id),
        decision(f"{p}D-1", story_id, influences=(f"{p}T-1",)),
        decision(f"{p}D-2", story_id, relations=((LinkKind.SUPERSEDES, f"{p}D-1"),)),
        milestone(f"{p}M-1", story_id),
        *transition(f"{p}PT-1", story_id),
    )
    for entity in (f"{p}T-1", f"{p}T-2", f"{p}T-3"):
        await graph.commit(
            batch(
                story_id,
                soft_delete(NodeKind.TASK, entity, "PENDING"),
                bump_version=True,
                history=(record(entity),),
            )
        )
    await given(graph, story_id, soft_delete(NodeKind.TASK, f"{p}T-3"))


async def exported(graph: GraphStore, story_id: str = STORY) -> StorySubgraph:
    """The export, which the test expects to exist."""
    found = await graph.export_story(story_id)
    assert found is not None, f"story {story_id} not exported"
    return found


async def test_export_of_an_unknown_story_is_none(graph: GraphStore) -> None:
    # Act
    found = await graph.export_story("S-404")

    # Assert
    assert found is None


async def test_export_holds_every_node_soft_deleted_ones_too(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)

    # Act
    found = await exported(graph)

    # Assert
    assert sorted((n.label, n.ref.node_id, n.properties.get("status")) for n in found.nodes) == [
        ("Decision", "D-1", "ACCEPTED"),
        ("Decision", "D-2", "ACCEPTED"),
        ("Event", "M-1", ""),
        ("PhaseTransition", "PT-1", None),
        ("PlanVersion", "PL-1", "DRAFT"),
        ("Task", "T-1", "PENDING"),
        ("Task", "T-2", "PENDING"),
        ("Task", "T-3", "DELETED"),
    ]


async def test_export_holds_the_edges_with_their_properties(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)

    # Act
    found = await exported(graph)

    # Assert
    edges = {(e.rel_type, e.src.node_id, e.dst.node_id): dict(e.properties) for e in found.edges}
    assert edges[("HAS_TASK", "PL-1", "T-1")] == ORIGIN
    assert {k for k in edges if k[0] != "HAS_TASK" or k[1] != "PL-1"} == {
        ("HAS_TASK", STORY, "T-1"),
        ("HAS_TASK", STORY, "T-2"),
        ("HAS_TASK", STORY, "T-3"),
        ("HAS_DECISION", STORY, "D-1"),
        ("HAS_DECISION", STORY, "D-2"),
        ("HAS_MILESTONE", STORY, "M-1"),
        ("HAS_PLAN", STORY, "PL-1"),
        ("HAS_PHASE", STORY, "PT-1"),
        ("DEPENDS_ON", "T-2", "T-1"),
        ("INFLUENCED_BY", "T-1", "D-1"),
        ("SUPERSEDES", "D-2", "D-1"),
    }


async def test_export_holds_the_epic_project_and_history_in_seq_order(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)

    # Act
    found = await exported(graph)

    # Assert
    assert (found.epic or {}).get("id") == "E-1"
    assert (found.project or {}).get("id") == "P-1"
    assert [r.seq for r in found.history] == list(range(1, len(found.history) + 1))
    bumped = [(r.version, r.entity_id) for r in found.history if r.version > 0]
    assert bumped[:3] == [(1, "T-1"), (2, "T-2"), (3, "T-3")]


async def test_import_into_an_empty_store_exports_the_same_subgraph(
    graph_pair: tuple[GraphStore, GraphStore],
) -> None:
    # Arrange
    source, target = graph_pair
    await rich_story(source)
    original = await exported(source)

    # Act
    await target.import_story(original, replace=False)

    # Assert
    assert await exported(target) == original


async def test_import_into_an_empty_store_serves_the_same_reads(
    graph_pair: tuple[GraphStore, GraphStore],
) -> None:
    # Arrange
    source, target = graph_pair
    await rich_story(source)
    extra = (("Task", "T-1"), ("Decision", "D-1"), ("Epic", "E-1"))

    # Act
    await target.import_story(await exported(source), replace=False)

    # Assert
    assert await snapshot(target, STORY, extra=extra) == await snapshot(source, STORY, extra=extra)


async def test_import_of_an_existing_story_without_replace_raises_and_changes_nothing(
    graph: GraphStore,
) -> None:
    # Arrange
    await rich_story(graph)
    before = await exported(graph)
    changed = replace(before, story={**before.story, "title": "Other"})

    # Act
    with pytest.raises(StoryExists):
        await graph.import_story(changed, replace=False)

    # Assert
    assert await exported(graph) == before


async def test_import_with_replace_swaps_the_whole_subgraph_and_history(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)
    original = await exported(graph)
    await graph.commit(batch(STORY, task("T-9"), bump_version=True, history=(record("T-9"),)))

    # Act
    await graph.import_story(original, replace=True)

    # Assert
    assert await exported(graph) == original


async def test_import_refuses_a_node_id_another_story_owns_and_writes_nothing(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, OTHER_STORY, task("T-1", OTHER_STORY))
    source = StorySubgraph(
        story={"id": STORY, "story_id": STORY, "title": "S"},
        nodes=(task_node("T-1"),),
        edges=(has_task("T-1"),),
    )

    # Act
    with pytest.raises(OwnershipConflict):
        await graph.import_story(source, replace=True)

    # Assert
    assert await graph.export_story(STORY) is None


async def test_an_import_adds_no_history_and_later_commits_continue_its_seqs(
    graph_pair: tuple[GraphStore, GraphStore],
) -> None:
    # Arrange
    source, target = graph_pair
    await rich_story(source)
    original = await exported(source)
    await target.import_story(original, replace=False)

    # Act
    result = await target.commit(
        batch(STORY, task("T-1", status="DONE"), bump_version=True, history=(record("T-1"),))
    )

    # Assert
    history = await target.history(STORY, limit=1000)
    assert result.version == 4
    assert [(r.seq, r.version) for r in history[:1]] == [(len(original.history) + 1, 4)]
    assert history[1:] == list(reversed(original.history))


async def test_a_replace_with_an_older_snapshot_never_reuses_a_seq(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)
    older = await exported(graph)
    await graph.commit(batch(STORY, task("T-9"), bump_version=True, history=(record("T-9"),)))
    await graph.import_story(older, replace=True)

    # Act
    await graph.commit(batch(STORY, task("T-8"), bump_version=True, history=(record("T-8"),)))

    # Assert
    seqs = [r.seq for r in await graph.history(STORY, limit=1000)]
    assert seqs == [len(older.history) + 2, *range(len(older.history), 0, -1)]


async def test_history_filters_by_entity_and_pages_below_a_seq(graph: GraphStore) -> None:
    # Arrange
    await given_story(graph, STORY, task("T-1"), task("T-2"))
    for i in range(6):
        entity = f"T-{1 + i % 2}"
        await graph.commit(
            batch(STORY, task(entity, status=f"S{i}"), bump_version=True, history=(record(entity),))
        )

    # Act
    first = await graph.history(STORY, entity_id="T-1", limit=2)
    rest = await graph.history(STORY, entity_id="T-1", limit=2, before_seq=first[-1].seq)

    # Assert
    assert [r.seq for r in first] + [r.seq for r in rest] == [8, 6, 4, 2]  # 2: T-1's creation


def task_node(task_id: str, story_id: str = STORY) -> StoredNode:
    """A stored Task node of `story_id`."""
    return StoredNode("Task", {"id": task_id, "task_id": task_id, "story_id": story_id, "title": task_id})


def has_task(task_id: str, story_id: str = STORY) -> StoredEdge:
    """The structural edge of a task."""
    return StoredEdge("HAS_TASK", NodeRef("Story", story_id), NodeRef("Task", task_id), {})


async def test_an_import_with_replace_raises_the_content_revision(graph: GraphStore) -> None:
    # Arrange
    await rich_story(graph)
    before = await graph.get_story(STORY)

    # Act
    await graph.import_story(await exported(graph), replace=True)

    # Assert
    after = await graph.get_story(STORY)
    assert before is not None
    assert after is not None
    assert after.content_revision > before.content_revision
    assert after.context_version == before.context_version
