"""A write batch as one Cypher statement, after the commit rules every graph store applies.

The preflight read tells what exists (owners, phase, the touched nodes' properties); `plan_commit` checks the
batch with `property_graph.rules.check_commit` (the same port errors as the memory store, before anything is
written), stamps its history with `domain.history`, and emits one statement. The statement only applies if the
story's revision is still the one the preflight saw, so a concurrent writer makes it match no row and the
adapter retries: a single statement is atomic on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from context_service.adapters.cypher.catalogue import (
    CHANGE_LABEL,
    COMMIT_LABEL,
    HAS_CHANGE,
    HAS_COMMIT,
    LAST_ATTEMPT,
    REVISION,
    TOUCH_STORIES,
    Params,
    label,
    preflight,
    relation,
)
from context_service.adapters.cypher.commit_emit import Checked, StatementBuilder, emit_grouped
from context_service.adapters.cypher.outcome import Attempt, replay_of
from context_service.adapters.property_graph.rules import check_commit
from context_service.domain.history import stamp_history
from context_service.domain.model import ChangeRecord
from context_service.domain.mutations import (
    HISTORY_SEQ,
    STORY_EDGES,
    TYPED_ID,
    CommitResult,
    Mutation,
    NodeKind,
    WriteBatch,
)
from context_service.domain.snapshot import change_fields

NodeKey = tuple[str, str]
STORY = NodeKind.STORY.value
PLAN = NodeKind.PLAN.value


@dataclass
class NodeState:
    """What the commit needs to know about a node: owner story, plan, and the story owning that plan."""

    owner: str = ""
    plan_id: str = ""
    plan_owner: str | None = None
    props: dict[str, Any] | None = None
    near: tuple[str, ...] = ()  # the stories owning the node's neighbours


@dataclass
class StoryState:
    """The story's phase, version and revision, and the result of a request already committed."""

    phase: str = ""
    version: int = 0
    revision: int = 0
    replay: CommitResult | None = None
    props: dict[str, Any] | None = None


@dataclass
class Known:
    """Everything the preflight found."""

    story: StoryState | None = None
    nodes: dict[NodeKey, NodeState] = field(default_factory=dict)


def history_row(story_id: str, record: ChangeRecord) -> dict[str, Any]:
    """The stored properties of a ContextChange node (its id is the story's id and the record's seq)."""
    return {**change_fields(record), "story_id": story_id, "id": f"{story_id}:{record.seq}"}


def commit_id(batch: WriteBatch) -> str:
    """The id of the record that makes a request exactly-once."""
    return f"{batch.story_id}|{batch.request_id}"


def preflight_query(batch: WriteBatch) -> tuple[str, Params]:
    """The read that precedes a commit: every mutated node, link target and referenced plan; the stories near
    the mutated nodes (`touched_stories` reads no others)."""
    ids: dict[str, set[str]] = {}
    written: dict[str, set[str]] = {}
    for m in batch.mutations:
        ids.setdefault(m.kind.value, set()).add(m.node_id)
        written.setdefault(m.kind.value, set()).add(m.node_id)
        for link in m.links:
            ids.setdefault(link.target_kind.value, set()).add(link.target_id)
        plan_id = {**m.on_create, **m.fields}.get("plan_id")
        if m.plan_edge is not None and plan_id:
            ids.setdefault(PLAN, set()).add(str(plan_id))
    return preflight(batch.story_id, commit_id(batch), ids, near=written)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def read_preflight(rows: Sequence[Sequence[Any]]) -> Known:
    """Rows of the preflight query as a `Known`."""
    known = Known()
    for name, node_id, owner, _status, plan_id, extra, props, near in rows:
        if name == "":
            phase, version, revision, *done = extra
            replay = replay_of(*done)
            known.story = StoryState(_text(phase), int(version), int(revision), replay, dict(props))
            continue
        plan_owner = None if extra is None or extra[0] is None else str(extra[0])
        state = NodeState(_text(owner), _text(plan_id), plan_owner, dict(props), tuple(map(str, near or ())))
        known.nodes[(name, str(node_id))] = state
    return known


def plan_commit(batch: WriteBatch, known: Known, attempt: Attempt) -> tuple[str, Params]:
    """Check the batch with the rules the memory store applies, then the one statement that applies it."""
    phase = known.story.phase if known.story is not None else None
    check_commit(batch, phase, {key: state.owner for key, state in known.nodes.items()})
    attempt.revision = known.story.revision if known.story is not None else 0
    nodes = dict(known.nodes)
    if batch.story_id and known.story is not None:
        nodes[(STORY, batch.story_id)] = NodeState(owner=batch.story_id)
    b = StatementBuilder()
    _open_story(b, batch, known.story, attempt.id)
    _touch_stories(b, sorted(touched_stories(batch, known)))
    if any(m.replace_links for m in batch.mutations):  # order matters: each mutation in its own clauses
        for i, m in enumerate(batch.mutations):
            _mutation(b, i, batch.story_id, m, nodes)
    else:  # one UNWIND per label and per edge kind: a short statement whatever the batch's size
        checked = [_checked(batch.story_id, m, nodes, known) for m in batch.mutations]
        emit_grouped(b, checked, story=(STORY, batch.story_id), story_existed=known.story is not None)
    _finish(b, batch, known)
    return b.text(), b.params


def _open_story(b: StatementBuilder, batch: WriteBatch, story: StoryState | None, attempt: str) -> None:
    if not batch.story_id:
        b.lines.append("WITH 0 AS s")
        return
    sid = b.param("story", batch.story_id)
    rev = b.param("rev", story.revision if story is not None else 0)
    # A story another commit created since the preflight has a revision above 0, so it matches no row.
    found = (
        f"MERGE (s:Story {{id: {sid}}}) WITH s WHERE"
        if story is None
        else f"MATCH (s:Story {{id: {sid}}}) WHERE"
    )
    b.lines.append(f"{found} coalesce(s.{REVISION}, 0) = {rev}")
    b.sets.append(f"SET s.{REVISION} = {rev} + 1, s.{LAST_ATTEMPT} = {b.param('attempt', attempt)}")


def touched_stories(batch: WriteBatch, known: Known) -> set[str]:
    """Other stories whose loads the batch changes: owners of its link targets and its nodes' neighbours."""
    found: set[str] = set()
    for m in batch.mutations:
        found.update(known.nodes.get((m.kind.value, m.node_id), NodeState()).near)
        found.update(known.nodes.get((t.target_kind.value, t.target_id), NodeState()).owner for t in m.links)
    return found - {batch.story_id, ""}


def _touch_stories(b: StatementBuilder, stories: list[str]) -> None:
    """A new content revision for those stories, in the same statement as the write."""
    if stories:
        b.sets.append(
            f"WITH s OPTIONAL MATCH (o:Story) WHERE o.id IN {b.param('touched', stories)} "
            f"WITH s, collect(o) AS touched {TOUCH_STORIES}"
        )


def _props(m: Mutation, nodes: dict[NodeKey, NodeState]) -> dict[str, Any]:
    """The properties a mutation sets; records what the node now is for the mutations after it."""
    key: NodeKey = (m.kind.value, m.node_id)
    existing = nodes.get(key)
    props: dict[str, Any] = (
        dict(m.fields) if existing is not None else {"id": m.node_id, **m.on_create, **m.fields}
    )
    if existing is None and m.kind in TYPED_ID:
        props[TYPED_ID[m.kind]] = m.node_id
    state = existing or NodeState()
    nodes[key] = NodeState(
        owner=_text(props.get("story_id", state.owner)),
        plan_id=_text(props.get("plan_id", state.plan_id)),
        plan_owner=state.plan_owner,
    )
    return props


def _checked(story_id: str, m: Mutation, nodes: dict[NodeKey, NodeState], known: Known) -> Checked:
    """A mutation as data for the grouped statement: its properties, where its task edge goes, and whether
    the preflight found its node."""
    props = _props(m, nodes)
    plan = _plan_of(story_id, m, nodes) if m.plan_edge is not None else None
    key = (m.kind.value, m.node_id)
    return Checked(m, props, key == (STORY, story_id), plan, existed=key in known.nodes)


def _plan_of(story_id: str, m: Mutation, nodes: dict[NodeKey, NodeState]) -> str:
    """The task's plan when that plan is the story's own ('' otherwise: never link into another story)."""
    task = nodes[(m.kind.value, m.node_id)]
    plan = nodes.get((PLAN, task.plan_id)) if task.plan_id else None
    owner = plan.owner if plan is not None else task.plan_owner if task.plan_id else None
    return task.plan_id if owner == story_id else ""


def _mutation(
    b: StatementBuilder, i: int, story_id: str, m: Mutation, nodes: dict[NodeKey, NodeState]
) -> None:
    props = _props(m, nodes)
    var = "s" if (m.kind.value, m.node_id) == (STORY, story_id) else f"n{i}"
    if var == "s":
        b.sets.append(f"SET s += {b.param(f'p{i}', props)}")
    else:
        node = f"({var}:{label(m.kind.value)} {{id: {b.param(f'id{i}', m.node_id)}}})"
        b.lines.append(f"MERGE {node}")
        b.sets.append(f"WITH s MATCH {node} SET {var} += {b.param(f'p{i}', props)}")
    if m.kind in STORY_EDGES:
        b.lines.append(f"MERGE (s)-[:{relation(STORY_EDGES[m.kind])}]->({var})")
    _replace_links(b, i, var, m)
    _links(b, i, var, m, nodes)
    if m.plan_edge is not None:
        _plan_edge(b, i, var, story_id=story_id, m=m, nodes=nodes)
    b.lines.append("WITH s")


def _scope(var: str) -> str:
    """The variables carried to the next clause (the story, and the mutated node unless it is the story)."""
    return "s" if var == "s" else f"s, {var}"


def _replace_links(b: StatementBuilder, i: int, var: str, m: Mutation) -> None:
    for j, kind in enumerate(m.replace_links):
        old = f"old{i}_{j}"
        b.lines.append(
            f"WITH {_scope(var)} OPTIONAL MATCH ({var})-[{old}:{relation(kind.value)}]->() "
            f"WITH {_scope(var)}, collect({old}) AS {old}s FOREACH (o IN {old}s | DELETE o)"
        )


def _links(b: StatementBuilder, i: int, var: str, m: Mutation, nodes: dict[NodeKey, NodeState]) -> None:
    for j, link in enumerate(m.links):
        target = f"t{i}_{j}"
        tid = b.param(f"t{i}_{j}", link.target_id)
        rel = relation(link.kind.value)
        pattern = f"({target})-[:{rel}]->({var})" if link.incoming else f"({var})-[:{rel}]->({target})"
        node = f"({target}:{label(link.target_kind.value)} {{id: {tid}}})"
        b.lines.append(f"WITH {_scope(var)} MATCH {node} MERGE {pattern}")


def _plan_edge(
    b: StatementBuilder, i: int, var: str, *, story_id: str, m: Mutation, nodes: dict[NodeKey, NodeState]
) -> None:
    """Why-this-task-exists metadata on (PlanVersion)-[:HAS_TASK]->(Task), else on the story's edge."""
    plan_id = _plan_of(story_id, m, nodes)
    props = b.param(f"pe{i}", dict(m.plan_edge or {}))
    if plan_id:
        pid = b.param(f"plan{i}", plan_id)
        b.lines.append(
            f"WITH {_scope(var)} MATCH (pl{i}:PlanVersion {{id: {pid}}}) "
            f"MERGE (pl{i})-[e{i}:HAS_TASK]->({var}) SET e{i} += {props}"
        )
    else:
        # The structural edge was merged above; FalkorDB's MERGE would not see it within this statement.
        b.lines.append(f"WITH {_scope(var)} MATCH (s)-[e{i}:HAS_TASK]->({var}) SET e{i} += {props}")


def _finish(b: StatementBuilder, batch: WriteBatch, known: Known) -> None:
    if not batch.story_id:
        b.sets.append("RETURN 0 AS version, '' AS phase, 0 AS seq")
        return
    story = known.story
    version = (story.version if story is not None else 0) + (1 if batch.bump_version else 0)
    if batch.bump_version:
        b.sets.append(f"SET s.context_version = {b.param('version', version)}")
    _history(b, batch, known, version)
    if batch.request_id:
        _commit_record(b, batch)
    b.sets.append(
        "RETURN coalesce(s.context_version, 0) AS version, coalesce(s.current_phase, '') AS phase, "
        f"coalesce(s.{HISTORY_SEQ}, 0) AS seq"
    )


def _commit_record(b: StatementBuilder, batch: WriteBatch) -> None:
    """The request's replayable record: created with the other nodes, filled in after the story's updates."""
    cid = b.param("commit", commit_id(batch))
    b.lines.append(f"MERGE (cr:{COMMIT_LABEL} {{id: {cid}}}) MERGE (s)-[:{HAS_COMMIT}]->(cr)")
    b.sets.append(
        f"WITH s MATCH (cr:{COMMIT_LABEL} {{id: {cid}}}) "
        # A story stored without these properties (legacy data) must still leave a replayable record.
        f"SET cr.version = coalesce(s.context_version, 0), "
        f"cr.current_phase = coalesce(s.current_phase, ''), "
        f"cr.changed = {b.param('changed', json.dumps(batch.changed))}, "
        f"cr.event_key = {b.param('event_key', batch.event_key)}, cr.story_id = s.id"
    )


def _history(b: StatementBuilder, batch: WriteBatch, known: Known, version: int) -> None:
    """One change record per written entity, stamped as the memory store stamps them, and the story's seq."""
    story_key: NodeKey = (STORY, batch.story_id)
    before: dict[NodeKey, dict[str, Any] | None] = {key: state.props for key, state in known.nodes.items()}
    before[story_key] = known.story.props if known.story is not None else None
    after = dict(before)
    for m in batch.mutations:
        key = (m.kind.value, m.node_id)
        after[key] = m.applied_to(after.get(key))
    after[story_key] = {**(after.get(story_key) or {}), "context_version": version}
    last_seq = int((before[story_key] or {}).get(HISTORY_SEQ, 0))
    records = stamp_history(batch, before, after, version=version, last_seq=last_seq)
    if not records:
        return
    rows = b.param("history", [history_row(batch.story_id, r) for r in records])
    b.sets.append(f"SET s.{HISTORY_SEQ} = {b.param('seq', last_seq + len(records))}")
    b.lines.append(
        f"FOREACH (h IN {rows} | MERGE (c:{CHANGE_LABEL} {{id: h.id}}) "
        # CREATE: the records are numbered after the story's last seq (read by the preflight, guarded by the
        # revision), so none is linked yet; a MERGE would read the whole, ever-written HAS_CHANGE matrix.
        f"CREATE (s)-[:{HAS_CHANGE}]->(c))"
    )
    b.sets.append(
        f"WITH s UNWIND {rows} AS h MATCH (c:{CHANGE_LABEL} {{id: h.id}}) SET c += h WITH s, count(*) AS h_n"
    )
