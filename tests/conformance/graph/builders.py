"""Write-batch builders shaped like the use cases' batches, and the domain values they read back as."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from context_service.domain.model import (
    ChangeRecord,
    Decision,
    Milestone,
    PhaseTransition,
    PlanVersion,
    Story,
    Task,
)
from context_service.domain.mutations import (
    CommitResult,
    Link,
    LinkKind,
    Mutation,
    NodeKind,
    Scalar,
    WriteBatch,
)
from context_service.domain.schema.decision import metadata_json
from context_service.domain.timefmt import iso_from_ms
from tests.conformance.graph.observe import GraphStore

STORY = "S-1"
OTHER_STORY = "S-2"
NOW_MS = 1_793_534_400_000
NOW = iso_from_ms(NOW_MS)
ORIGIN: dict[str, str] = {
    "decided_by": "planner",
    "decision_reason": "split the login flow",
    "council_feedback": "approved by the council",
    "decided_at": NOW,
    "source": "planning",
}


def batch(story_id: str, *mutations: Mutation, **options: Any) -> WriteBatch:
    """A write batch of the mutations (options: expect_phase, bump_version, history, request_id)."""
    return WriteBatch(story_id, mutations, **options)


async def given(graph: GraphStore, story_id: str, *mutations: Mutation) -> CommitResult:
    """Arrange: commit the mutations as one plain batch."""
    return await graph.commit(batch(story_id, *mutations))


async def given_story(graph: GraphStore, story_id: str = STORY, *mutations: Mutation) -> None:
    """Arrange: create the story (as CreateStory does), then commit the mutations under it."""
    await given(graph, story_id, story(story_id))
    if mutations:
        await given(graph, story_id, *mutations)


def story(story_id: str = STORY, *, title: str = "", phase: str = "DESIGN") -> Mutation:
    """The Story node CreateStory writes: everything on create only."""
    on_create: dict[str, Scalar] = {
        "title": title or f"Story {story_id}",
        "description": f"About {story_id}",
        "status": "ACTIVE",
        "current_phase": phase,
        "context_version": 0,
        "created_by": "po-1",
        "created_at": NOW,
        "updated_at": NOW,
        "epic_id": "",
    }
    return Mutation(NodeKind.STORY, story_id, on_create=on_create)


def expected_story(story_id: str = STORY, **changes: Any) -> Story:
    """What `story(story_id)` reads back as, with `changes`."""
    found = Story(
        story_id=story_id,
        title=f"Story {story_id}",
        description=f"About {story_id}",
        status="ACTIVE",
        current_phase="DESIGN",
        context_version=0,
        created_by="po-1",
        created_at=NOW,
        updated_at=NOW,
        epic_id="",
    )
    return replace(found, **changes)


def task(
    task_id: str,
    story_id: str = STORY,
    *,
    deps: tuple[str, ...] = (),
    plan_id: str = "",
    origin: Mapping[str, Scalar] | None = None,
    **fields: Scalar,
) -> Mutation:
    """A Task: identity on create, the rest SET every time, DEPENDS_ON replaced by `deps`."""
    values: dict[str, Scalar] = {
        "title": f"Task {task_id}",
        "description": f"Do {task_id}",
        "role": "developer",
        "priority": 0,
        "estimated_hours": 0,
        "plan_id": plan_id,
        "type": "",
        "updated_at": NOW,
    }
    return Mutation(
        NodeKind.TASK,
        task_id,
        fields={**values, **fields},
        on_create={"story_id": story_id, "status": "PENDING", "created_at": NOW},
        links=tuple(Link(LinkKind.DEPENDS_ON, NodeKind.TASK, d) for d in deps),
        replace_links=(LinkKind.DEPENDS_ON,),
        plan_edge=origin,
    )


def expected_task(task_id: str, story_id: str = STORY, **changes: Any) -> Task:
    """What `task(task_id, story_id)` reads back as, with `changes`."""
    found = Task(
        task_id=task_id,
        story_id=story_id,
        title=f"Task {task_id}",
        description=f"Do {task_id}",
        role="developer",
        status="PENDING",
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(found, **changes)


def decision(
    decision_id: str,
    story_id: str = STORY,
    *,
    influences: tuple[str, ...] = (),
    relations: tuple[tuple[LinkKind, str], ...] = (),
    metadata: Mapping[str, str] | None = None,
    created_at_ms: int = NOW_MS,
) -> Mutation:
    """A Decision as AddProjectDecision writes it, influencing tasks and related to other decisions."""
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "title": f"Decision {decision_id}",
        "rationale": f"Because of {decision_id}",
        "status": "ACCEPTED",
        "decision_type": "ARCHITECTURE",
        "alternatives_considered": "none",
        "decided_by": "architect",
        "decided_at": NOW,
        "created_at_ms": created_at_ms,
        "metadata": metadata_json(dict(metadata or {})),
    }
    links = [Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, t, incoming=True) for t in influences]
    links += [Link(kind, NodeKind.DECISION, target) for kind, target in relations]
    return Mutation(NodeKind.DECISION, decision_id, on_create=on_create, links=tuple(links))


def expected_decision(decision_id: str, story_id: str = STORY, **changes: Any) -> Decision:
    """What `decision(decision_id, story_id)` reads back as, with `changes`."""
    found = Decision(
        decision_id=decision_id,
        story_id=story_id,
        title=f"Decision {decision_id}",
        rationale=f"Because of {decision_id}",
        status="ACCEPTED",
        decision_type="ARCHITECTURE",
        alternatives_considered="none",
        decided_by="architect",
        decided_at=NOW,
        created_at_ms=NOW_MS,
    )
    return replace(found, **changes)


def plan(plan_id: str, story_id: str = STORY, *, version: int = 1) -> Mutation:
    """A PlanVersion of the story."""
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "version": version,
        "status": "DRAFT",
        "rationale": f"Plan {plan_id}",
        "author_id": "planner",
        "created_at_ms": NOW_MS,
    }
    return Mutation(NodeKind.PLAN, plan_id, on_create=on_create)


def expected_plan(plan_id: str, story_id: str = STORY, *, version: int = 1) -> PlanVersion:
    """What `plan(plan_id, story_id)` reads back as."""
    return PlanVersion(plan_id, story_id, version, "DRAFT", "planner", f"Plan {plan_id}", NOW_MS)


def milestone(milestone_id: str, story_id: str = STORY, *, ts_ms: int = NOW_MS) -> Mutation:
    """A milestone Event of the story."""
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "event_type": "milestone",
        "description": f"Reached {milestone_id}",
        "actor": "qa",
        "ts_ms": ts_ms,
        "status": "",
    }
    return Mutation(NodeKind.MILESTONE, milestone_id, on_create=on_create)


def expected_milestone(milestone_id: str, *, ts_ms: int = NOW_MS) -> Milestone:
    """What `milestone(milestone_id)` reads back as."""
    return Milestone("milestone", f"Reached {milestone_id}", ts_ms, "qa", milestone_id, "")


def transition(
    transition_id: str, story_id: str = STORY, *, source: str = "DESIGN", target: str = "BUILD"
) -> tuple[Mutation, Mutation]:
    """The PhaseTransition node and the story's new phase, as TransitionPhase writes them."""
    on_create: dict[str, Scalar] = {
        "story_id": story_id,
        "from_phase": source,
        "to_phase": target,
        "rationale": f"Ready for {target}",
        "transitioned_at": NOW,
        "ts_ms": NOW_MS,
    }
    return (
        Mutation(NodeKind.TRANSITION, transition_id, on_create=on_create),
        Mutation(NodeKind.STORY, story_id, fields={"current_phase": target, "updated_at": NOW}),
    )


def expected_transition(
    transition_id: str, story_id: str = STORY, *, source: str = "DESIGN", target: str = "BUILD"
) -> PhaseTransition:
    """What `transition(transition_id, story_id)` reads back as."""
    return PhaseTransition(transition_id, story_id, source, target, f"Ready for {target}", NOW, NOW_MS)


def project(project_id: str, *relates_to: str, **fields: Scalar) -> Mutation:
    """A Project as RecordProject writes it (outside any story), optionally RELATES_TO others."""
    values: dict[str, Scalar] = {
        "name": f"Project {project_id}",
        "description": "",
        "owner": "po-1",
        "status": "ACTIVE",
    }
    return Mutation(
        NodeKind.PROJECT,
        project_id,
        fields={**values, **fields},
        on_create={"created_at_ms": NOW_MS},
        links=tuple(Link(LinkKind.RELATES_TO, NodeKind.PROJECT, p) for p in relates_to),
    )


def epic(epic_id: str, project_id: str) -> Mutation:
    """An Epic under its project: (Project)-[:HAS_EPIC]->(Epic)."""
    fields: dict[str, Scalar] = {
        "project_id": project_id,
        "title": f"Epic {epic_id}",
        "description": "",
        "status": "ACTIVE",
    }
    link = Link(LinkKind.HAS_EPIC, NodeKind.PROJECT, project_id, incoming=True)
    return Mutation(NodeKind.EPIC, epic_id, fields=fields, on_create={"created_at_ms": NOW_MS}, links=(link,))


def in_epic(story_id: str, epic_id: str) -> Mutation:
    """(Epic)-[:CONTAINS_STORY]->(Story) and the story's epic_id."""
    link = Link(LinkKind.CONTAINS_STORY, NodeKind.EPIC, epic_id, incoming=True)
    return Mutation(NodeKind.STORY, story_id, fields={"epic_id": epic_id}, links=(link,))


def soft_delete(kind: NodeKind, node_id: str, status: str = "DELETED") -> Mutation:
    """Mark a node deleted, as an UpdateContext DELETE does."""
    return Mutation(kind, node_id, fields={"status": status, "updated_at": NOW})


def record(entity_id: str, *, operation: str = "UPDATE", entity_type: str = "SUBTASK") -> ChangeRecord:
    """A history record as UpdateContext stages it (the adapter stamps version and request_id)."""
    return ChangeRecord(
        version=0,
        role="developer",
        task_id="",
        operation=operation,
        entity_type=entity_type,
        entity_id=entity_id,
        reason=f"change {entity_id}",
        timestamp=NOW,
    )


def plain(r: ChangeRecord) -> ChangeRecord:
    """A stored record without what only the store knows (seq, digests), to compare with `stamped`."""
    return replace(r, seq=0, digest_before="", digest_after="")


def stamped(entity_id: str, version: int, request_id: str = "") -> ChangeRecord:
    """What `record(entity_id)` reads back as once committed at `version`."""
    return replace(record(entity_id), version=version, request_id=request_id)
