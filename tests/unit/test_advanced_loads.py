"""A story's load carried over a commit that creates nodes hanging from the story: only they are read.

The FalkorDB suite (tests/integration/test_falkordb_carried_loads.py) checks that a carried load equals the
engine's; this checks the point of carrying it, on the property graph alone: what the commit did not touch
is the very entity the load before held, not one decoded again.
"""

from __future__ import annotations

from context_service.adapters.property_graph.advance import advanced
from context_service.adapters.property_graph.store import Edge, PropertyGraph, public
from context_service.adapters.property_graph.views import story_projection
from context_service.domain.mutations import STORY_EDGES, Mutation, NodeKind, WriteBatch
from tests.conformance.graph.builders import STORY, decision, milestone, story, task


def graph_of(*mutations: Mutation) -> PropertyGraph:
    """The story and, hanging from it by its edge of their kind, the nodes the mutations create."""
    graph = PropertyGraph()
    story_key = (NodeKind.STORY.value, STORY)
    graph.nodes[story_key] = public(story(STORY).applied_to(None))
    for m in mutations:
        key = (m.kind.value, m.node_id)
        graph.nodes[key] = public(m.applied_to(None))
        graph.put_edge(Edge(story_key, STORY_EDGES[m.kind], key), {})
    return graph


def test_a_commit_creating_a_milestone_reads_it_alone_and_keeps_every_other_entity() -> None:
    # Arrange: a loaded story with milestones, a decision and a task
    graph = graph_of(milestone("M-1"), milestone("M-2"), decision("D-1"), task("T-1"))
    before = story_projection(graph, STORY)
    assert before is not None

    # Act: a milestone whose id sorts before the others
    carried = advanced(graph, before, WriteBatch(STORY, (milestone("M-0"),)), {"context_version": 2}, ())

    # Assert: the load the carried graph projects, with the earlier milestones and the other parts reused
    assert carried is not None
    assert carried.projection == story_projection(carried.graph, STORY)
    assert [m.description for m in carried.projection.story.milestones] == [
        "Reached M-0",
        "Reached M-1",
        "Reached M-2",
    ]
    assert all(
        a is b for a, b in zip(carried.projection.story.milestones[1:], before.story.milestones, strict=True)
    )
    assert carried.projection.story.decisions is before.story.decisions
    assert carried.projection.story.tasks is before.story.tasks
    assert carried.projection.story.story.context_version == 2


def test_a_commit_changing_entities_and_adding_others_among_them_projects_as_a_load_of_the_graph_after() -> (
    None
):
    # Arrange: parts with several entities each, so that new ones land between old ones
    graph = graph_of(
        *(milestone(f"M-{n}") for n in (1, 3, 5)), *(task(f"T-{n}") for n in (2, 4)), decision("D-1")
    )
    before = story_projection(graph, STORY)
    assert before is not None
    batch = WriteBatch(
        STORY,
        (
            milestone("M-4"),
            milestone("M-0"),
            Mutation(NodeKind.TASK, "T-3", fields={"title": "new"}, on_create={"story_id": STORY}),
            Mutation(NodeKind.TASK, "T-4", fields={"title": "renamed"}),
            Mutation(NodeKind.MILESTONE, "M-3", fields={"description": "moved on"}),
        ),
    )

    # Act
    carried = advanced(graph, before, batch, {"context_version": 2}, ())

    # Assert: what a load of the graph after the commit projects, keys and order included
    assert carried is not None
    assert carried.projection == story_projection(carried.graph, STORY)
    assert [k[1] for k in carried.projection.keys["milestones"]] == ["M-0", "M-1", "M-3", "M-4", "M-5"]
    assert [(t.task_id, t.title) for t in carried.projection.story.tasks] == [
        ("T-2", "Task T-2"),
        ("T-3", "new"),
        ("T-4", "renamed"),
    ]
    # and the entities the commit did not write are the ones the load before held, not read again
    milestones, earlier = carried.projection.story.milestones, before.story.milestones
    assert milestones[1] is earlier[0]
    assert milestones[4] is earlier[2]
    assert carried.projection.story.tasks[0] is before.story.tasks[0]
    assert carried.projection.story.decisions is before.story.decisions


def test_a_new_task_whose_links_are_replaced_is_carried_and_an_existing_one_is_not() -> None:
    # Arrange: CreateTask replaces a task's dependencies; a new task without any has none to remove
    graph = graph_of(task("T-1"), milestone("M-1"))
    before = story_projection(graph, STORY)
    assert before is not None

    # Act
    new = advanced(graph, before, WriteBatch(STORY, (task("T-2"),)), {}, ())
    existing = advanced(graph, before, WriteBatch(STORY, (task("T-1", title="again"),)), {}, ())
    held_by_the_engine = advanced(
        graph, before, WriteBatch(STORY, (task("T-3"),)), {}, ((NodeKind.TASK.value, "T-3"),)
    )

    # Assert
    assert new is not None
    assert new.projection == story_projection(new.graph, STORY)
    assert [t.task_id for t in new.projection.story.tasks] == ["T-1", "T-2"]
    assert existing is None  # its dependencies may be replaced: loaded again
    assert held_by_the_engine is None  # a node outside the load may have links to remove


def test_a_new_tasks_dependency_is_carried_only_onto_a_task_of_the_load_the_story_owns() -> None:
    # Arrange
    graph = graph_of(task("T-1"), task("T-2", story_id="ELSEWHERE"))
    before = story_projection(graph, STORY)
    assert before is not None

    # Act
    on_its_own = advanced(graph, before, WriteBatch(STORY, (task("T-3", deps=("T-1",)),)), {}, ())
    on_another = advanced(graph, before, WriteBatch(STORY, (task("T-4", deps=("T-2",)),)), {}, ())
    on_unloaded = advanced(graph, before, WriteBatch(STORY, (task("T-5", deps=("T-9",)),)), {}, ())

    # Assert
    assert on_its_own is not None
    assert on_its_own.projection == story_projection(on_its_own.graph, STORY)
    assert on_its_own.projection.story.task("T-3").dependencies == ("T-1",)  # type: ignore[union-attr]
    assert on_another is None  # another story's revision moves too: loaded again
    assert on_unloaded is None
