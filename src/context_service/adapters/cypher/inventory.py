"""Every statement the Cypher catalogue can produce: each shape, each dialect branch, with its parameters.

`python -m context_service.adapters.cypher.inventory` prints them as JSON for offline checkers (`make lint`
runs Neo4j's own Cypher 5 front end over them), so a statement no test happens to run is still checked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from dataclasses import replace as replace_record

from context_service.adapters.cypher import catalogue as q
from context_service.adapters.cypher import legacy_queries as legacy
from context_service.adapters.cypher.archive import EXPORT_STORY, export_params, import_statement
from context_service.adapters.cypher.commit import Known, NodeState, StoryState, plan_commit
from context_service.adapters.cypher.dialect import FALKORDB, NEO4J
from context_service.adapters.cypher.outcome import Attempt
from context_service.domain.model import ChangeRecord
from context_service.domain.mutations import (
    DECISION_RELATIONS,
    STORY_EDGES,
    Link,
    LinkKind,
    Mutation,
    NodeKind,
    WriteBatch,
)
from context_service.domain.snapshot import NodeRef, StoredEdge, StoredNode, StorySubgraph

STORY = "S-1"
PLAN = "PL-1"
SHARED = "shared"


@dataclass(frozen=True)
class Statement:
    """One statement as an engine receives it."""

    name: str
    dialect: str
    text: str
    params: q.Params


def statements() -> list[Statement]:
    """All of them, reads first, then schema and locking, then commits."""
    return [*_reads(), *_dialects(), *_commits(), *_legacy()]


def _reads() -> Iterator[Statement]:
    yield Statement("get_story", SHARED, q.GET_STORY, {"id": STORY})
    yield Statement("load_story", SHARED, q.LOAD_STORY, q.story_params(STORY))
    yield Statement("load_story if changed", SHARED, q.LOAD_STORY, q.story_params(STORY, 3))
    yield Statement("recent history", SHARED, q.RECENT_HISTORY, {"id": STORY, "before": 0, "limit": 10})
    yield Statement("history", SHARED, q.HISTORY, {"id": STORY, "before": 0, "entity": "", "limit": 10})
    yield Statement("trim history", SHARED, q.TRIM_HISTORY, {"id": STORY, "cut": 1})
    yield Statement("export story", SHARED, EXPORT_STORY, export_params(STORY))
    for replace in (False, True):
        yield Statement(
            f"import story replace={replace}", SHARED, *import_statement(_snapshot(), replace=replace)
        )
    yield Statement("commit_outcome", SHARED, q.COMMIT_OUTCOME, {"story": STORY, "commit": "S-1|r"})
    yield Statement("drop", SHARED, q.DROP_ALL, {})
    labels = sorted(q.NODE_LABELS)
    for name in labels:
        yield Statement(f"locate {name}", SHARED, *q.locate({name: ["x"]}))
        for depth in range(1, q.MAX_DEPTH + 1):
            text = q.neighbourhood(name, depth)
            yield Statement(f"neighbourhood {name} {depth}", SHARED, text, q.neighbourhood_params("x", 5))
    yield Statement("locate all", SHARED, *q.locate({name: ["x"] for name in labels}))
    yield Statement("preflight story", SHARED, *q.preflight(STORY, "S-1|r", {}))
    yield Statement("preflight story and nodes", SHARED, *q.preflight(STORY, "S-1|r", {"Task": ["T-1"]}))
    near = q.preflight(STORY, "S-1|r", {"Task": ["T-1", "T-2"], "Epic": ["E-1"]}, near={"Task": ["T-1"]})
    yield Statement("preflight story, nodes and their neighbours", SHARED, *near)
    yield Statement("preflight nodes", SHARED, *q.preflight("", "", {"Project": ["P-1"]}))


def _snapshot() -> StorySubgraph:
    """A story with a plan, a task, the edges among them, an epic, a project and one history record."""
    story, task, plan = NodeRef("Story", STORY), NodeRef("Task", "T-1"), NodeRef("PlanVersion", PLAN)
    return StorySubgraph(
        story={"id": STORY, "story_id": STORY, "title": "S", "context_version": 1},
        nodes=(
            StoredNode("Task", {"id": "T-1", "story_id": STORY, "plan_id": PLAN}),
            StoredNode("PlanVersion", {"id": PLAN, "story_id": STORY, "version": 1}),
        ),
        edges=(
            StoredEdge("HAS_TASK", story, task, {}),
            StoredEdge("HAS_PLAN", story, plan, {}),
            StoredEdge("HAS_TASK", plan, task, {"source": "planning"}),
        ),
        epic={"id": "E-1", "project_id": "P-1"},
        project={"id": "P-1", "name": "P"},
        history=(replace_record(_record(), seq=1),),
    )


def _dialects() -> Iterator[Statement]:
    for dialect in (NEO4J, FALKORDB):
        for i, text in enumerate(dialect.schema):
            yield Statement(f"schema {i}", dialect.name, text, {})
        if dialect.lock_story:
            yield Statement("lock story", dialect.name, dialect.lock_story, {"story": STORY})
        for label, prop in legacy.INDEXED:
            text = dialect.index.format(label=label, prop=prop)
            yield Statement(f"legacy index {label}.{prop}", dialect.name, text, {})


def _record() -> ChangeRecord:
    return ChangeRecord(0, "developer", "T-1", "UPDATE", "SUBTASK", "T-1", "why", "2025-01-01T00:00:00Z")


def _existing(*keys: tuple[NodeKind, str]) -> Known:
    """A known story (in BUILD) owning the given nodes, and its plan."""
    nodes = {(kind.value, node_id): NodeState(owner=STORY) for kind, node_id in keys}
    nodes[(NodeKind.PLAN.value, PLAN)] = NodeState(owner=STORY)
    return Known(story=StoryState("BUILD", 3, 5), nodes=nodes)


def _story_node_batches() -> Iterator[tuple[str, WriteBatch, Known]]:
    """One mutation of every story-scoped kind, with links both ways and replaced links."""
    known = _existing((NodeKind.TASK, "T-0"), (NodeKind.DECISION, "D-0"))
    for kind in STORY_EDGES:
        links = (
            Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-0"),
            Link(LinkKind.INFLUENCED_BY, NodeKind.DECISION, "D-0", incoming=True),
        )
        mutation = Mutation(
            kind, f"{kind.value}-9", {"title": "t"}, {"story_id": STORY}, links, (LinkKind.DEPENDS_ON,)
        )
        yield f"commit {kind.value}", WriteBatch(STORY, (mutation,)), known


def _batches() -> Iterator[tuple[str, WriteBatch, Known]]:
    story = Mutation(NodeKind.STORY, STORY, {"title": "t", "current_phase": "DESIGN"})
    yield "commit new story", WriteBatch(STORY, (story,)), Known()
    yield "commit story fields", WriteBatch(STORY, (story,), expect_phase="BUILD"), _existing()
    yield from _story_node_batches()
    in_plan = Mutation(
        NodeKind.TASK, "T-9", {"plan_id": PLAN}, {"story_id": STORY}, plan_edge={"source": "plan"}
    )
    yield "commit task in plan", WriteBatch(STORY, (in_plan,)), _existing()
    outside = Mutation(
        NodeKind.TASK, "T-9", {"plan_id": "PL-9"}, {"story_id": STORY}, plan_edge={"source": "x"}
    )
    yield "commit task, plan elsewhere", WriteBatch(STORY, (outside,)), _existing()
    task = Mutation(NodeKind.TASK, "T-0", {"status": "DONE"})
    versioned = WriteBatch(STORY, (task,), bump_version=True, history=(_record(),), request_id="r")
    yield "commit versioned request", versioned, _existing((NodeKind.TASK, "T-0"))
    project = Mutation(
        NodeKind.PROJECT, "P-1", {"name": "p"}, links=(Link(LinkKind.HAS_EPIC, NodeKind.EPIC, "E-1"),)
    )
    planning = Known(nodes={(NodeKind.EPIC.value, "E-1"): NodeState()})
    yield "commit outside any story", WriteBatch("", (project,)), planning
    yield "commit grouped", _grouped(), _existing((NodeKind.TASK, "T-0"))
    stored = [(NodeKind.TASK, f"T-{i}") for i in range(3)] + [(NodeKind.DECISION, "D-1")]
    yield "commit grouped, stored nodes", _grouped(), _existing(*stored)
    yield from _touching_batches(versioned)


def _touching_batches(versioned: WriteBatch) -> Iterator[tuple[str, WriteBatch, Known]]:
    """Batches whose node has a neighbour in another story: that story's revision is bumped too."""
    known = _existing()
    known.nodes[(NodeKind.TASK.value, "T-0")] = NodeState(owner=STORY, near=("S-2",))
    yield "commit touching another story", versioned, known
    unlink = Mutation(NodeKind.TASK, "T-0", replace_links=(LinkKind.DEPENDS_ON,))
    yield "commit touching another story, links replaced", WriteBatch(STORY, (unlink,)), known


def _grouped() -> WriteBatch:
    """Several labels and edge kinds in a batch that replaces no links: the one-UNWIND-per-group form."""
    decision = Mutation(
        NodeKind.DECISION, "D-1", {"title": "d"}, {"story_id": STORY},
        (Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, "T-0", incoming=True),),
    )  # fmt: skip
    tasks = [
        Mutation(NodeKind.TASK, f"T-{i}", {"plan_id": PLAN}, {"story_id": STORY}, plan_edge={"source": "p"})
        for i in (1, 2)
    ]
    depends = Mutation(NodeKind.TASK, "T-2", links=(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-1"),))
    return WriteBatch(STORY, (*tasks, decision, depends), bump_version=True, history=(_record(),))


def _commits() -> Iterator[Statement]:
    for name, batch, known in _batches():
        text, params = plan_commit(batch, known, Attempt("attempt"))
        yield Statement(name, SHARED, text, params)


def _legacy() -> Iterator[Statement]:
    """The legacy reader's and pruner's statements, with the parameters the reader binds."""
    ids = {"ids": [STORY], "plans": [PLAN], "tasks": ["T-1"]}
    edges = {"tasks": ["T-1"], "decisions": ["D-1"], "relations": sorted(DECISION_RELATIONS)}
    named = {"legacy story keys": legacy.STORY_KEYS, "legacy projects": legacy.PROJECTS}
    named |= {"legacy epics": legacy.EPICS, "legacy has_epic": legacy.HAS_EPIC}
    for name, text in named.items():
        yield Statement(name, SHARED, text, {})
    for shape, text in legacy.BY_STORY.items():
        yield Statement(f"legacy {shape.value}", SHARED, text, {"ids": [STORY]})
    for shape, text in legacy.BY_PLAN.items():
        yield Statement(f"legacy {shape.value}", SHARED, text, {"plans": [PLAN]})
    yield Statement("legacy dispatches", SHARED, legacy.DISPATCHES, {"tasks": ["T-1"]})
    yield Statement("legacy decisions", SHARED, legacy.DECISIONS, ids)
    for shape, text in legacy.EDGES.items():
        yield Statement(f"legacy {shape.value}", SHARED, text, edges)
    yield Statement("legacy orphans", SHARED, legacy.ORPHANS, {"keys": [STORY]})
    for label, match in legacy.PRUNE.items():
        yield Statement(f"legacy prune {label}", SHARED, match + legacy.PRUNE_SLICE, {"limit": 100})
    for label in legacy.LEGACY_PROPERTIES:
        yield Statement(f"legacy clear {label}", SHARED, legacy.clear_properties(label), {"limit": 100})


def schema() -> dict[str, list[str]]:
    """Every label and relationship type the statements may name (anything else is a typo)."""
    relations = {*STORY_EDGES.values(), *(k.value for k in LinkKind), q.HAS_CHANGE, q.HAS_COMMIT}
    relations |= set(legacy.LEGACY_RELATIONS)
    labels = sorted({*q.SCHEMA_LABELS, *legacy.LEGACY_LABELS})
    return {"labels": labels, "relationshipTypes": sorted(relations)}


def main() -> None:
    """Print the schema and every statement as JSON."""
    document = {**schema(), "statements": [asdict(s) for s in statements()]}
    json.dump(document, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
