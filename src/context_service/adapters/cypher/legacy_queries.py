"""Cypher over the legacy service's layout, in the openCypher subset FalkorDB and Neo4j both accept.

A legacy node is told from one of this service by its shape: labels this service never writes (ProjectCase,
Case, Subtask, Plan), a shared label without the `id` this service always writes (Story, Task, Epic,
Project, PhaseTransition), or, for labels whose legacy nodes already had an `id` (PlanVersion, Decision,
Event), the legacy keys (`case_id`, CONTAINS_DECISION, AFFECTS). A story's key is its `story_id` (ProjectCase,
planning Story) or the Case's `id`; the older era names it `case_id` on plans, decisions and events.

Node queries return (reference, properties): the story key in the first stage; the plan or task id the node
hangs from in the later stages (the reader maps those to stories). A statement starts from an indexed key
(`x IN $list` seeks the index on both engines) or from the batch's ProjectCase nodes, never from a scan of a
large label: without an index FalkorDB compares every node of the label with every listed id.
Edge queries return (src, dst, type, props).
"""

from __future__ import annotations

from context_service.domain.legacy import Shape

# Labels and relationship types only the legacy layout has (named below beside the model's).
LEGACY_LABELS = ("Actor", "Case", "Plan", "ProjectCase", "Subtask")
LEGACY_RELATIONS = (
    "AFFECTS", "AUTHORED_BY", "BELONGS_TO", "BELONGS_TO_PLAN", "CONTAINS_DECISION", "HAS_SUBTASK",
)  # fmt: skip

STORY_KEYS = """
MATCH (n:ProjectCase) RETURN DISTINCT coalesce(n.story_id, n.id) AS sid
UNION
MATCH (n:Story) WHERE n.id IS NULL AND n.story_id IS NOT NULL RETURN DISTINCT n.story_id AS sid
UNION
MATCH (n:Case) RETURN DISTINCT n.id AS sid
"""

PROJECTS = "MATCH (p:Project) WHERE p.id IS NULL RETURN properties(p)"
EPICS = "MATCH (e:Epic) WHERE e.id IS NULL RETURN properties(e)"
HAS_EPIC = """
MATCH (p:Project)-[:HAS_EPIC]->(e:Epic) WHERE p.id IS NULL AND e.id IS NULL
RETURN p.project_id, e.epic_id, '', {}
"""

# The plan's story: its own story_id (newer era) or case_id (older), else the node that HAS_PLAN it.
_PLAN_STORY = (
    "OPTIONAL MATCH (o)-[:HAS_PLAN]->(p) WITH p, coalesce(p.story_id, p.case_id, o.story_id, o.id) AS sid"
)

# The legacy keys the queries below look nodes up by: indexed before a run, or every lookup of a batch would
# scan its label (`x IN $list` is linear in the list on both engines without an index).
INDEXED: tuple[tuple[str, str], ...] = (
    ("ProjectCase", "story_id"),
    ("Story", "story_id"),
    ("Case", "id"),
    ("Task", "task_id"),
    ("Task", "story_id"),
    ("Subtask", "id"),
    ("Decision", "story_id"),
    ("Decision", "case_id"),
    ("Event", "case_id"),
    ("PhaseTransition", "story_id"),
    ("PlanApproval", "plan_id"),
    ("TaskDispatch", "task_id"),
)

# Stage 1: by story key ($ids).
BY_STORY: dict[Shape, str] = {
    Shape.PROJECT_CASE: """
MATCH (n:ProjectCase) WITH n, coalesce(n.story_id, n.id) AS sid WHERE sid IN $ids RETURN sid, properties(n)
""",
    Shape.PLANNING_STORY: """
MATCH (n:Story) WHERE n.id IS NULL AND n.story_id IN $ids RETURN n.story_id, properties(n)
""",
    Shape.CASE: "MATCH (n:Case) WHERE n.id IN $ids RETURN n.id, properties(n)",
    Shape.PLAN: f"""
MATCH (p:PlanVersion) {_PLAN_STORY} WHERE sid IN $ids WITH DISTINCT p, sid RETURN sid, properties(p)
""",
    Shape.STORY_TASK: """
MATCH (t:Task) WHERE t.id IS NULL AND t.story_id IN $ids
RETURN t.story_id AS sid, properties(t) AS props
UNION ALL
MATCH (c:ProjectCase) WITH c, coalesce(c.story_id, c.id) AS sid WHERE sid IN $ids
MATCH (c)<-[:BELONGS_TO]-(t:Task) WHERE t.id IS NULL AND t.story_id IS NULL
RETURN sid, properties(t) AS props
""",
    Shape.EVENT: "MATCH (e:Event) WHERE e.case_id IN $ids RETURN e.case_id, properties(e)",
    Shape.TRANSITION: """
MATCH (t:PhaseTransition) WHERE t.id IS NULL AND t.story_id IN $ids
RETURN t.story_id AS sid, properties(t) AS props
UNION ALL
MATCH (c:ProjectCase) WITH c, coalesce(c.story_id, c.id) AS sid WHERE sid IN $ids
MATCH (c)-[:HAS_PHASE]->(t:PhaseTransition) WHERE t.id IS NULL AND t.story_id IS NULL
RETURN sid, properties(t) AS props
""",
}

# Stage 2: by plan id ($plans).
BY_PLAN: dict[Shape, str] = {
    Shape.PLAN_TASK: """
MATCH (p:PlanVersion)<-[:BELONGS_TO_PLAN]-(t:Task)
WHERE p.id IN $plans AND t.id IS NULL AND t.story_id IS NULL RETURN p.id, properties(t)
""",
    Shape.SUBTASK: """
MATCH (p:PlanVersion)-[:HAS_SUBTASK]->(x:Subtask) WHERE p.id IN $plans RETURN p.id, properties(x)
""",
    Shape.APPROVAL: "MATCH (a:PlanApproval) WHERE a.plan_id IN $plans RETURN a.plan_id, properties(a)",
}

# Stage 3: by task id ($tasks), and decisions by any of their legacy paths (the reader picks one story).
DISPATCHES = "MATCH (a:TaskDispatch) WHERE a.task_id IN $tasks RETURN a.task_id, properties(a)"
DECISIONS = """
MATCH (d:Decision) WHERE d.story_id IN $ids RETURN d.story_id AS ref, 'story' AS via, properties(d) AS props
UNION ALL
MATCH (d:Decision) WHERE d.case_id IN $ids AND d.story_id IS NULL
RETURN d.case_id AS ref, 'story' AS via, properties(d) AS props
UNION ALL
MATCH (p:PlanVersion)-[:CONTAINS_DECISION]->(d:Decision) WHERE p.id IN $plans
RETURN p.id AS ref, 'plan' AS via, properties(d) AS props
UNION ALL
MATCH (t:Task)-[:INFLUENCED_BY]->(d:Decision) WHERE t.id IS NULL AND t.task_id IN $tasks
RETURN t.task_id AS ref, 'task' AS via, properties(d) AS props
UNION ALL
MATCH (x:Subtask)<-[:AFFECTS]-(d:Decision) WHERE x.id IN $tasks
RETURN x.id AS ref, 'task' AS via, properties(d) AS props
"""

# Stage 4: edges among what was read ($tasks, $decisions).
EDGES: dict[Shape, str] = {
    Shape.TASK_DEPENDS: """
MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) WHERE a.id IS NULL AND b.id IS NULL AND a.task_id IN $tasks
RETURN a.task_id, b.task_id, 'DEPENDS_ON', {}
""",
    Shape.INFLUENCED: """
MATCH (t:Task)-[:INFLUENCED_BY]->(d:Decision) WHERE t.id IS NULL AND t.task_id IN $tasks
RETURN t.task_id, d.id, 'INFLUENCED_BY', {}
""",
    Shape.AFFECTS: """
MATCH (d:Decision)-[:AFFECTS]->(x:Subtask) WHERE d.id IN $decisions RETURN d.id, x.id, 'AFFECTS', {}
""",
    Shape.DECISION_LINK: """
MATCH (a:Decision)-[r]->(b:Decision) WHERE a.id IN $decisions AND type(r) IN $relations
RETURN a.id, b.id, type(r), {}
""",
    Shape.TASK_ORIGIN: """
MATCH (p:Plan)-[r:HAS_TASK]->(t:Task) WHERE t.id IS NULL AND t.task_id IN $tasks
RETURN coalesce(p.plan_id, p.id, ''), t.task_id, 'HAS_TASK', properties(r)
""",
    Shape.AUTHORED: """
MATCH (d:Decision)-[:AUTHORED_BY]->(a:Actor) WHERE d.id IN $decisions
RETURN d.id, coalesce(a.name, a.id, ''), 'AUTHORED_BY', {}
""",
}

# Legacy nodes that no story among $keys can claim: (shape, id, reason).
ORPHANS = """
MATCH (d:Decision) WHERE d.story_id IS NULL
OPTIONAL MATCH (p:PlanVersion)-[:CONTAINS_DECISION]->(d)
OPTIONAL MATCH (t:Task)-[:INFLUENCED_BY]->(d)
OPTIONAL MATCH (d)-[:AFFECTS]->(x:Subtask)<-[:HAS_SUBTASK]-(q:PlanVersion)
WITH d, count(p) + count(t) + count(q) AS paths
WHERE paths = 0 AND (d.case_id IS NULL OR NOT d.case_id IN $keys)
RETURN 'Decision' AS shape, d.id AS id, 'no story, plan or task refers to it' AS reason
UNION ALL
MATCH (t:Task) WHERE t.id IS NULL
OPTIONAL MATCH (t)-[:BELONGS_TO]->(c:ProjectCase)
OPTIONAL MATCH (t)-[:BELONGS_TO_PLAN]->(p:PlanVersion)
WITH t, coalesce(t.story_id, c.story_id, c.id, p.story_id, p.case_id) AS sid
WHERE sid IS NULL OR NOT sid IN $keys
RETURN 'Task (story)' AS shape, t.task_id AS id, 'belongs to no known story or plan' AS reason
UNION ALL
MATCH (x:Subtask) OPTIONAL MATCH (p:PlanVersion)-[:HAS_SUBTASK]->(x) WITH x, count(p) AS plans WHERE plans = 0
RETURN 'Subtask' AS shape, x.id AS id, 'in no plan (an AFFECTS target never created)' AS reason
UNION ALL
MATCH (e:Event) WHERE e.story_id IS NULL AND (e.case_id IS NULL OR NOT e.case_id IN $keys)
RETURN 'Event' AS shape, e.id AS id, 'its case_id names no story' AS reason
UNION ALL
MATCH (p:PlanVersion) WHERE p.story_id IS NULL {plan_story} WHERE sid IS NULL OR NOT sid IN $keys
RETURN 'PlanVersion' AS shape, p.id AS id, 'belongs to no known story' AS reason
""".replace("{plan_story}", _PLAN_STORY)

# Removal after adoption, a bounded slice per statement (the pruner repeats each until nothing is left).
PRUNE: dict[str, str] = {
    "ProjectCase": "MATCH (n:ProjectCase)",
    "Case": "MATCH (n:Case)",
    "Subtask": "MATCH (n:Subtask)",
    "Plan": "MATCH (n:Plan)",
    **{
        label: f"MATCH (n:{label}) WHERE n.id IS NULL"
        for label in ("Story", "Task", "Epic", "Project", "PhaseTransition")
    },
    **{
        label: f"MATCH (n:{label}) WHERE n.story_id IS NULL"
        for label in ("Decision", "Event", "PlanVersion", "PlanApproval", "TaskDispatch")
    },
}
PRUNE_SLICE = " WITH n LIMIT $limit DETACH DELETE n RETURN count(*)"
# Properties only the legacy layout used, left on the nodes adopted in place.
LEGACY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "Decision": ("kind", "summary", "case_id", "author_id"),
    "Event": ("case_id", "timestamp_ms"),
    "PlanVersion": ("case_id",),
    "PlanApproval": ("timestamp",),
    "TaskDispatch": ("timestamp",),
}


def clear_properties(label: str) -> str:
    """Set a slice of one label's legacy-only properties to null (removing them on both engines)."""
    names = LEGACY_PROPERTIES[label]
    present = " OR ".join(f"n.{name} IS NOT NULL" for name in names)
    cleared = ", ".join(f"n.{name} = null" for name in names)
    return f"MATCH (n:{label}) WHERE {present} WITH n LIMIT $limit SET {cleared} RETURN count(*)"
