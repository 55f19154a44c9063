"""Every read the graph ports need, written once in the openCypher subset FalkorDB and Neo4j both accept.

Values travel only as parameters. Labels and relationship types that must appear in the text come from the
fixed whitelists of `domain.mutations` (never from input), checked again here before interpolation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from context_service.domain.mutations import CONTENT_REVISION, HISTORY_SEQ, STORY_EDGES, LinkKind, NodeKind
from context_service.domain.snapshot import CHANGE_FIELDS
from context_service.domain.vocabulary import DELETED
from context_service.ports.graph import NO_REVISION

Params = dict[str, Any]

# Bookkeeping kept beside the story, never traversed as part of the knowledge graph.
CHANGE_LABEL = "ContextChange"
COMMIT_LABEL = "CommitRecord"
HAS_CHANGE = "HAS_CHANGE"
HAS_COMMIT = "HAS_COMMIT"
# Node properties the adapters keep for themselves (stripped from every projection).
REVISION = CONTENT_REVISION
# The id of the last commit attempt applied to a story: tells whether an unacknowledged commit landed.
LAST_ATTEMPT = "_attempt"

NODE_LABELS = frozenset(k.value for k in NodeKind)
SCHEMA_LABELS = tuple(sorted(NODE_LABELS | {CHANGE_LABEL, COMMIT_LABEL}))
STORY_RELATIONS = tuple(sorted(set(STORY_EDGES.values())))
TRAVERSABLE = tuple(sorted(set(STORY_EDGES.values()) | {k.value for k in LinkKind}))
MAX_DEPTH = 3


def label(name: str) -> str:
    """A whitelisted node label, safe to interpolate."""
    if name not in NODE_LABELS:
        raise ValueError(f"label {name!r} is not in the whitelist")
    return name


def relation(name: str) -> str:
    """A whitelisted relationship type, safe to interpolate."""
    if name not in TRAVERSABLE:
        raise ValueError(f"relationship type {name!r} is not in the whitelist")
    return name


GET_STORY = "MATCH (s:Story {id: $id}) RETURN properties(s) AS story"
DROP_ALL = "MATCH (n) DETACH DELETE n"  # tests: an empty graph

# The whole story neighbourhood in one round trip: the story, every node hanging off it by a structural edge,
# and every edge around those nodes (dependencies, influences, decision relations, plan edges) with the node
# at the other end. The adapter rebuilds a small property graph from it and projects it like the memory store.
# One row per node or edge, in four UNION ALL branches: the story, its children, edges leaving a child, and
# edges reaching a child from another story. The story's own nodes arrive once, as children; the far end's
# properties come only when it belongs elsewhere. Flat branches, not one nested aggregate: FalkorDB runs this
# shape about five times faster on a 300-node story (an undirected match with a per-edge filter was the cost).
# The edges around the children are matched after a WITH that holds the children: in one path pattern FalkorDB
# plans those branches from a scan of every node in the graph (every story and history record) back to the
# story, so the load grew with the whole graph instead of the story. The story's edges are matched by type
# (a fixed whitelist) rather than filtered after the match: a filter would still walk every HAS_CHANGE edge
# of the story's history (up to its retention, thousands) in each branch.
# Nodes the legacy service left beside the model (no `id`, or a label of its own) are never part of it.
# When the story's content revision is `$seen`, only the story row comes back: a reader holding an answer
# built at that revision learns in the same round trip that it is current, and otherwise gets the new load
# (a story without a revision is at 0; `NO_REVISION` never matches, so it always loads).
STORY_PART = "S"
INCOMING_PART = "I"
LOAD_STORY = """
MATCH (s:Story {id: $id})
RETURN 'S' AS part, '' AS type, '' AS from_label, '' AS from_id, '' AS to_label, '' AS to_id,
  null AS edge, properties(s) AS node
UNION ALL
MATCH (s:Story {id: $id}) WHERE coalesce(s.{revision}, 0) <> $seen
MATCH (s)-[r:{story_edges}]->(c)
RETURN 'C' AS part, type(r) AS type, 'Story' AS from_label, s.id AS from_id, labels(c)[0] AS to_label,
  c.id AS to_id, properties(r) AS edge, properties(c) AS node
UNION ALL
MATCH (s:Story {id: $id}) WHERE coalesce(s.{revision}, 0) <> $seen
MATCH (s)-[r:{story_edges}]->(c)
WITH s, c
MATCH (c)-[e]->(x)
WHERE type(e) IN $traversable AND x <> s
  AND x.id IS NOT NULL AND labels(x)[0] IN $labels
RETURN 'O' AS part, type(e) AS type, labels(c)[0] AS from_label, c.id AS from_id, labels(x)[0] AS to_label,
  x.id AS to_id, properties(e) AS edge, CASE WHEN x.story_id = s.id THEN NULL ELSE properties(x) END AS node
UNION ALL
MATCH (s:Story {id: $id}) WHERE coalesce(s.{revision}, 0) <> $seen
MATCH (s)-[r:{story_edges}]->(c)
WITH s, c
MATCH (c)<-[e]-(x)
WHERE type(e) IN $traversable AND x <> s AND coalesce(x.story_id, '') <> s.id
  AND x.id IS NOT NULL AND labels(x)[0] IN $labels
RETURN 'I' AS part, type(e) AS type, labels(x)[0] AS from_label, x.id AS from_id, labels(c)[0] AS to_label,
  c.id AS to_id, properties(e) AS edge, properties(x) AS node
""".replace("{story_edges}", "|".join(relation(r) for r in STORY_RELATIONS)).replace("{revision}", REVISION)

# A story's records are found through an index on these properties of ContextChange (every engine creates
# it, see dialect.INDEXES), never by walking from the story and sorting all of them.
CHANGE_INDEX = ("story_id", "seq")
_CHANGE = "[" + ", ".join(f"c.{name}" for name in CHANGE_FIELDS) + "]"

# A page without an entity filter: the records in the window of `$limit` seqs below `$before` (0: below the
# story's seq counter + 1). Seqs are unique per story, so the window holds a page at most and needs no sort;
# it holds a whole page unless retention or an imported document left a gap, and then the adapter reads on
# below `floor` with HISTORY. `floor` is null for a story without a counter (HISTORY reads all of it).
RECENT_HISTORY = f"""
MATCH (s:Story {{id: $id}})
WITH CASE WHEN $before > 0 THEN $before ELSE s.{HISTORY_SEQ} + 1 END AS top
OPTIONAL MATCH (c:{CHANGE_LABEL}) WHERE c.story_id = $id AND c.seq < top AND c.seq >= top - $limit
RETURN top - $limit AS floor, collect(CASE WHEN c IS NULL THEN NULL ELSE {_CHANGE} END) AS changes
"""

# One record per row, newest first, below `$before` (0: all), one entity's if `$entity`: sorted and cut in
# the engine, so only a page is projected.
HISTORY = f"""
MATCH (c:{CHANGE_LABEL})
WHERE c.story_id = $id AND ($before = 0 OR c.seq < $before) AND ($entity = '' OR c.entity_id = $entity)
WITH c ORDER BY c.seq DESC LIMIT $limit
RETURN {_CHANGE} AS change
"""

# Retention: the story's oldest records beyond the newest `keep`.
TRIM_HISTORY = f"""
MATCH (c:{CHANGE_LABEL}) WHERE c.story_id = $id AND c.seq <= $cut DETACH DELETE c
"""


def story_params(story_id: str, seen: int = NO_REVISION) -> Params:
    """Parameters of LOAD_STORY: the whole load unless the story's content revision is `seen`."""
    return {
        "id": story_id,
        "seen": seen,
        "traversable": list(TRAVERSABLE),
        "labels": sorted(NODE_LABELS),
    }


# A new content revision for every story in `touched` (their cached reads go stale), in the write itself.
# The first SET takes each story's write lock before the second reads the revision: under Neo4j's read
# committed isolation two concurrent bumps could otherwise read the same value and land as one.
TOUCH_STORIES = (
    f"FOREACH (o IN touched | SET o.{REVISION} = coalesce(o.{REVISION}, 0)) "
    f"FOREACH (o IN touched | SET o.{REVISION} = coalesce(o.{REVISION}, 0) + 1)"
)
# The stories owning a node's neighbours: a write to the node changes what those stories' loads show.
# A story's load shows its own nodes' neighbourhoods, never what hangs above the story node (its epic).
# A match and a collect, not a pattern comprehension: right after a write FalkorDB runs the comprehension's
# undirected expand at about three times the cost (3.8 against 1.4 ms for ten nodes on a 50k-node graph).
NEAR = "OPTIONAL MATCH (n)--(x) WHERE x.story_id IS NOT NULL AND NOT x:Story "


def _locate_branch(name: str, key: str, near: bool) -> str:
    """Nodes of one label by id (the list `$key`); a task also reports which story owns its plan.

    With `near`, also the stories that own the node's neighbours (a story's own children are never another
    story's neighbours through it, so the story node itself reports none).
    """
    plan = "OPTIONAL MATCH (p:PlanVersion {id: n.plan_id}) " if name == NodeKind.TASK.value else ""
    extra = "[p.story_id]" if plan else "null"
    stories = "[]"
    if near and name != NodeKind.STORY.value:
        plan += f"{NEAR}WITH n, {extra} AS extra, collect(x.story_id) AS near "
        extra, stories = "extra", "near"
    return (
        f"MATCH (n:{label(name)}) WHERE n.id IN ${key} {plan}"
        f"RETURN '{name}' AS label, n.id AS id, n.story_id AS owner, n.status AS status, "
        f"n.plan_id AS plan_id, {extra} AS extra, properties(n) AS props, {stories} AS near"
    )


def locate(
    ids_by_label: Mapping[str, Iterable[str]], *, near: Mapping[str, Iterable[str]] | None = None
) -> tuple[str, Params]:
    """Owner, status and plan of nodes of several labels: one UNION ALL branch per label, one round trip.

    The ids listed in `near` (by label) also get the stories owning their neighbours, in a branch of their
    own: only where they are asked for, since a node with thousands of neighbours (an epic) costs as many.
    """
    branches, params = [], {}
    for i, (name, ids) in enumerate(sorted(ids_by_label.items())):
        wanted = set(ids)
        close = wanted & set((near or {}).get(name, ()))
        for key, chosen, with_near in ((f"ids{i}", wanted - close, False), (f"near{i}", close, True)):
            if chosen:
                params[key] = sorted(chosen)
                branches.append(_locate_branch(name, key, with_near))
    return "\nUNION ALL\n".join(branches), params


PREFLIGHT_STORY = f"""
MATCH (s:Story {{id: $story}})
OPTIONAL MATCH (s)-[:{HAS_COMMIT}]->(c:{COMMIT_LABEL} {{id: $commit}})
RETURN '' AS label, s.id AS id, s.story_id AS owner, s.status AS status, null AS plan_id,
  [s.current_phase, coalesce(s.context_version, 0), coalesce(s.{REVISION}, 0),
   CASE WHEN c IS NULL THEN null ELSE coalesce(c.version, 0) END, c.current_phase,
   c.changed, c.event_key]
  AS extra, properties(s) AS props, [] AS near
"""

# After a commit whose acknowledgement was lost: the story's revision and last attempt, and the request's
# commit record if there is one (read in a write transaction, so on a cluster it is the leader's state).
COMMIT_OUTCOME = f"""
MATCH (s:Story {{id: $story}})
OPTIONAL MATCH (s)-[:{HAS_COMMIT}]->(c:{COMMIT_LABEL} {{id: $commit}})
RETURN s.{LAST_ATTEMPT} AS attempt, coalesce(s.{REVISION}, 0) AS revision,
  coalesce(s.context_version, 0) AS version, coalesce(s.current_phase, '') AS phase,
  CASE WHEN c IS NULL THEN null ELSE [coalesce(c.version, 0), c.current_phase, c.changed, c.event_key] END
  AS recorded
"""


def preflight(
    story_id: str,
    commit_id: str,
    ids_by_label: Mapping[str, Iterable[str]],
    near: Mapping[str, Iterable[str]] | None = None,
) -> tuple[str, Params]:
    """What a commit must know before writing, in one round trip: the story and every node it touches (with
    the stories near the nodes listed in `near`: those it writes)."""
    text, params = locate(ids_by_label, near=near) if ids_by_label else ("", {})
    if story_id:
        text = PREFLIGHT_STORY + (f"UNION ALL\n{text}" if text else "")
        params |= {"story": story_id, "commit": commit_id}
    return text, params


def neighbourhood(start_label: str, depth: int) -> str:
    """The `$cap` nearest live nodes within `depth` hops (by hops, label, id), and the edges among them.

    Ranking every candidate by its shortest live path makes the cap independent of the order in which an
    engine expands paths (breadth- or depth-first), so every backend keeps the same nodes.
    """
    hops = max(1, min(MAX_DEPTH, depth))
    types = "|".join(relation(t) for t in TRAVERSABLE)
    return f"""
MATCH (n:{label(start_label)} {{id: $id}})
OPTIONAL MATCH p = (n)-[:{types}*1..{hops}]-(m)
WHERE m <> n AND m.id IS NOT NULL AND labels(m)[0] IN $labels
  AND all(x IN nodes(p) WHERE toUpper(coalesce(x.status, '')) <> $deleted)
WITH n, m, min(length(p)) AS distance
ORDER BY distance, labels(m)[0], m.id
WITH n, collect(m) AS found
WITH [n] + found[..$cap] AS nodes, size(found) > $cap AS capped
UNWIND nodes AS a
OPTIONAL MATCH (a)-[r:{types}]->(b) WHERE b IN nodes
RETURN labels(a)[0] AS label, properties(a) AS props, capped,
  collect(CASE WHEN r IS NULL THEN NULL ELSE [type(r), labels(b)[0], b.id, properties(r)] END) AS out
"""


def neighbourhood_params(node_id: str, limit: int) -> Params:
    """Parameters of a neighbourhood statement."""
    return {"id": node_id, "cap": limit, "deleted": DELETED, "labels": sorted(NODE_LABELS)}
