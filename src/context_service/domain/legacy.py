"""The legacy service's graph layout as records: what a legacy reader returns, shape by shape, per story."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Props = Mapping[str, Any]
MIGRATION_SOURCE = "migrate:legacy"


class Shape(StrEnum):
    """Every node and edge shape the legacy service wrote (both eras)."""

    PROJECT_CASE = "ProjectCase"
    PLANNING_STORY = "Story"
    CASE = "Case"
    PROJECT = "Project"
    EPIC = "Epic"
    STORY_TASK = "Task (story)"
    PLAN_TASK = "Task (plan)"
    SUBTASK = "Subtask"
    PLAN = "PlanVersion"
    DECISION = "Decision"
    EVENT = "Event"
    TRANSITION = "PhaseTransition"
    APPROVAL = "PlanApproval"
    DISPATCH = "TaskDispatch"
    HAS_EPIC = "(Project)-[:HAS_EPIC]->(Epic)"
    CONTAINS_STORY = "(Epic)-[:CONTAINS_STORY]->(Story)"
    TASK_DEPENDS = "(Task)-[:DEPENDS_ON]->(Task)"
    INFLUENCED = "(Task)-[:INFLUENCED_BY]->(Decision)"
    AFFECTS = "(Decision)-[:AFFECTS]->(Subtask)"
    DECISION_LINK = "(Decision)-[:DEPENDS_ON|GOVERNS|SUPERSEDES|RELATES_TO]->(Decision)"
    TASK_ORIGIN = "(Plan)-[:HAS_TASK]->(Task)"
    AUTHORED = "(Decision)-[:AUTHORED_BY]->(Actor)"


# What each shape becomes in this service's model (the first column of the report).
TARGETS: dict[Shape, str] = {
    Shape.PROJECT_CASE: "Story",
    Shape.PLANNING_STORY: "Story",
    Shape.CASE: "Story",
    Shape.PROJECT: "Project",
    Shape.EPIC: "Epic",
    Shape.STORY_TASK: "Task",
    Shape.PLAN_TASK: "Task",
    Shape.SUBTASK: "Task",
    Shape.PLAN: "PlanVersion",
    Shape.DECISION: "Decision",
    Shape.EVENT: "Event (milestone)",
    Shape.TRANSITION: "PhaseTransition",
    Shape.APPROVAL: "PlanApproval",
    Shape.DISPATCH: "TaskDispatch",
    Shape.HAS_EPIC: "(Project)-[:HAS_EPIC]->(Epic)",
    Shape.CONTAINS_STORY: "(Epic)-[:CONTAINS_STORY]->(Story)",
    Shape.TASK_DEPENDS: "(Task)-[:DEPENDS_ON]->(Task)",
    Shape.INFLUENCED: "(Task)-[:INFLUENCED_BY]->(Decision)",
    Shape.AFFECTS: "(Task)-[:INFLUENCED_BY]->(Decision)",
    Shape.DECISION_LINK: "(Decision)-[:<same type>]->(Decision)",
    Shape.TASK_ORIGIN: "(PlanVersion)-[:HAS_TASK {origin}]->(Task)",
    Shape.AUTHORED: "Decision.decided_by",
}


@dataclass(frozen=True)
class LegacyEdge:
    """A legacy relationship between two nodes named by their legacy ids."""

    src: str
    dst: str
    rel: str = ""
    props: Props = field(default_factory=dict)


@dataclass
class LegacyStory:
    """Everything the legacy graph holds about one story key, shape by shape."""

    key: str
    nodes: dict[Shape, list[Props]] = field(default_factory=dict)
    edges: dict[Shape, list[LegacyEdge]] = field(default_factory=dict)

    def of(self, shape: Shape) -> list[Props]:
        """The node records of one shape."""
        return self.nodes.get(shape, [])

    def links(self, shape: Shape) -> list[LegacyEdge]:
        """The edge records of one shape."""
        return self.edges.get(shape, [])

    def node_count(self) -> int:
        """Legacy nodes read for this story."""
        return sum(len(records) for records in self.nodes.values())


@dataclass(frozen=True)
class LegacyPlanning:
    """The planning hierarchy above stories: projects, epics and the edges between them."""

    projects: tuple[Props, ...] = ()
    epics: tuple[Props, ...] = ()
    has_epic: tuple[LegacyEdge, ...] = ()


@dataclass(frozen=True)
class LegacyOrphan:
    """A legacy node no story can be found for (it is reported, never written)."""

    shape: Shape
    node_id: str
    reason: str
