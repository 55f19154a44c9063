"""The parts of one legacy story, de-duplicated, and the mutations of its decisions, milestones and events."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from context_service.domain.legacy import LegacyEdge, LegacyStory, Props, Shape
from context_service.domain.legacy_report import AdoptionReport
from context_service.domain.legacy_values import Values
from context_service.domain.mutations import Link, LinkKind, Mutation, NodeKind, Scalar
from context_service.domain.schema import decision, milestone, task, transition
from context_service.domain.timefmt import iso_from_ms

TITLE_LENGTH = 120
TASK_PRECEDENCE = (Shape.STORY_TASK, Shape.PLAN_TASK, Shape.SUBTASK)


@dataclass
class StoryParts:
    """Plans, tasks (merged across eras), decisions, task origins and authors of one story, by id."""

    story: LegacyStory
    report: AdoptionReport
    plans: dict[str, Props] = field(default_factory=dict)
    tasks: dict[str, Props] = field(default_factory=dict)
    decisions: dict[str, Props] = field(default_factory=dict)
    origins: dict[str, Props] = field(default_factory=dict)
    authors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Index the story's records (counting each shape as it is taken)."""
        s, report = self.story, self.report
        for p in s.of(Shape.PLAN):
            self.plans.setdefault(str(p.get("id") or p.get("plan_id")), p)
        report.count(Shape.PLAN, len(s.of(Shape.PLAN)))
        for shape in TASK_PRECEDENCE:
            for props in s.of(shape):
                self._add_task(shape, props)
        for d in s.of(Shape.DECISION):
            self.decisions.setdefault(str(d["id"]), d)
        # Rows arrive in whatever order the engine chose: sort, so the same graph maps to the same writes.
        self.plans, self.tasks, self.decisions = (
            dict(sorted(x.items())) for x in (self.plans, self.tasks, self.decisions)
        )
        report.count(Shape.DECISION, len(self.decisions))
        for e in s.links(Shape.TASK_ORIGIN):
            if e.dst in self.tasks:
                self.origins[e.dst] = e.props
                report.count(Shape.TASK_ORIGIN)
        for e in s.links(Shape.AUTHORED):
            if e.src in self.decisions:
                self.authors.setdefault(e.src, e.dst)
                report.count(Shape.AUTHORED)

    def _add_task(self, shape: Shape, props: Props) -> None:
        tid = task.LABEL.legacy_id(props)
        self.report.count(shape)
        known = self.tasks.get(tid)
        if known is None:
            self.tasks[tid] = {**props, "task_id": tid}
            return
        old, new = str(known.get("title") or ""), str(props.get("title") or "")
        if old and new and old != new:
            self.report.conflict(f"task '{tid}' is also a {shape.value} titled {new!r}; kept {old!r}")
        self.tasks[tid] = {**{k: v for k, v in props.items() if v not in (None, "")}, **known}

    def influences(self) -> dict[str, list[str]]:
        """Decision id -> the tasks it influences (INFLUENCED_BY, and AFFECTS on subtasks)."""
        found: dict[str, list[str]] = {}
        for e in self.story.links(Shape.INFLUENCED):
            if self._both(e.src, e.dst, Shape.INFLUENCED):
                found.setdefault(e.dst, []).append(e.src)
        for e in self.story.links(Shape.AFFECTS):
            if self._both(e.dst, e.src, Shape.AFFECTS):
                found.setdefault(e.src, []).append(e.dst)
        return {d: sorted(set(tasks)) for d, tasks in found.items()}

    def _both(self, task_id: str, decision_id: str, shape: Shape) -> bool:
        if task_id in self.tasks and decision_id in self.decisions:
            self.report.count(shape)
            return True
        self.report.orphan(
            f"{shape.value} between decision '{decision_id}' and task '{task_id}' "
            f"of story '{self.story.key}': "
            f"{'task' if task_id not in self.tasks else 'decision'} not found in the story"
        )
        return False

    def dependency_mutations(self) -> list[Mutation]:
        """Task dependencies and decision relations, once every node of the story is written."""
        out: dict[tuple[NodeKind, str], list[Link]] = {}
        for e in _sorted(self.story.links(Shape.TASK_DEPENDS)):
            if e.src in self.tasks and e.dst in self.tasks and e.src != e.dst:
                self.report.count(Shape.TASK_DEPENDS)
                out.setdefault((NodeKind.TASK, e.src), []).extend(task.dependency_links([e.dst]))
            else:
                self.report.orphan(
                    f"DEPENDS_ON '{e.src}' -> '{e.dst}' of story '{self.story.key}': not two tasks"
                )
        for e in _sorted(self.story.links(Shape.DECISION_LINK)):
            if e.src in self.decisions and e.dst in self.decisions and e.rel in decision.RELATIONS:
                self.report.count(Shape.DECISION_LINK)
                link = Link(LinkKind(e.rel), NodeKind.DECISION, e.dst)
                out.setdefault((NodeKind.DECISION, e.src), []).append(link)
            else:
                self.report.orphan(
                    f"{e.rel} '{e.src}' -> '{e.dst}' of story '{self.story.key}': not two decisions"
                )
        return [Mutation(kind, node_id, links=tuple(links)) for (kind, node_id), links in out.items()]


def _sorted(edges: list[LegacyEdge]) -> list[LegacyEdge]:
    unique = {(e.src, e.rel, e.dst): e for e in edges}
    return [unique[k] for k in sorted(unique)]


def decision_mutations(parts: StoryParts) -> list[Mutation]:
    """One upsert per decision, with the INFLUENCED_BY edges from the tasks it influences or affects."""
    influences = parts.influences()
    return [
        _decision(d, parts, tuple(dict.fromkeys(influences.get(i, [])))) for i, d in parts.decisions.items()
    ]


def _decision(d: Props, parts: StoryParts, tasks: tuple[str, ...]) -> Mutation:
    did = str(d["id"])
    v = Values(d, f"Decision '{did}'", parts.report)
    summary, kind = v.text("summary"), v.text("kind")
    title = (
        v.text("title") or _title(summary) or (f"{kind.capitalize()} decision" if kind else f"Decision {did}")
    )
    created = v.ms("created_at_ms", "created_at", "timestamp_ms")
    metadata = {"adopted_from": "legacy", **({"kind": kind} if kind else {})}
    fields: dict[str, Scalar] = {
        "story_id": parts.story.key,
        "title": title,
        "rationale": v.text("rationale") or summary,
        "status": v.status("status", decision.DEFAULT_STATUS),
        "decision_type": v.text("decision_type", "kind").upper(),
        "alternatives_considered": v.text("alternatives_considered", "alternatives"),
        "decided_by": parts.authors.get(did)
        or v.text("author_id", "decided_by")
        or decision.DEFAULT_DECIDED_BY,
        "decided_at": v.text("decided_at") or (iso_from_ms(created) if created else ""),
        "created_at_ms": created,
        "metadata": decision.metadata_json(metadata),
    }
    return Mutation(NodeKind.DECISION, did, fields=fields, links=decision.influenced_by(tasks))


def _title(summary: str) -> str:
    first = summary.splitlines()[0].strip() if summary else ""
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1].rstrip() + "…"


def orchestration_mutations(parts: StoryParts) -> list[Mutation]:
    """Milestones, phase transitions, plan approvals and task dispatches."""
    s, report = parts.story, parts.report
    out = [_event(e, s.key, report) for e in s.of(Shape.EVENT)]
    out += [_transition(t, s.key, report) for t in s.of(Shape.TRANSITION)]
    for record in (APPROVAL, DISPATCH):
        out += [m for a in s.of(record.shape) if (m := _pointing(a, parts, record)) is not None]
    return sorted(out, key=lambda m: (m.kind.value, m.node_id))


def _event(e: Props, story_id: str, report: AdoptionReport) -> Mutation:
    report.count(Shape.EVENT)
    v = Values(e, f"Event '{e.get('id')}'", report)
    fields: dict[str, Scalar] = {
        "story_id": story_id,
        "event_type": v.text("event_type", "type") or milestone.DEFAULT_TYPE,
        "description": v.text("description"),
        "actor": v.text("actor"),
        "ts_ms": v.ms("timestamp_ms", "timestamp", "ts_ms"),
        "status": "",
    }
    return Mutation(NodeKind.MILESTONE, v.text("id"), fields=fields)


def _transition(t: Props, story_id: str, report: AdoptionReport) -> Mutation:
    report.count(Shape.TRANSITION)
    v = Values(t, f"PhaseTransition of '{story_id}'", report)
    ts = v.ms("transitioned_at", "timestamp")
    source, target = v.phase("from_phase"), v.phase("to_phase")
    ref = hashlib.sha256(f"{source}>{target}@{ts}".encode()).hexdigest()[:6].upper()
    fields: dict[str, Scalar] = {
        "story_id": story_id,
        "from_phase": source,
        "to_phase": target,
        "rationale": v.text("rationale"),
        "transitioned_at": iso_from_ms(ts) if ts else "",
        "ts_ms": ts,
    }
    return Mutation(NodeKind.TRANSITION, transition.new_id(story_id, ts, ref), fields=fields)


@dataclass(frozen=True)
class _Record:
    """A plan approval or a task dispatch: a timestamped record pointing at a plan or a task of the story."""

    shape: Shape
    kind: NodeKind
    link: LinkKind
    target: NodeKind
    target_key: str
    at: str
    copied: tuple[str, ...]


APPROVAL = _Record(
    Shape.APPROVAL, NodeKind.PLAN_APPROVAL, LinkKind.APPROVES, NodeKind.PLAN, "plan_id", "approved_at",
    ("approved_by", "comment"),
)  # fmt: skip
DISPATCH = _Record(
    Shape.DISPATCH, NodeKind.TASK_DISPATCH, LinkKind.DISPATCHES, NodeKind.TASK, "task_id", "dispatched_at",
    ("agent_id", "role"),
)  # fmt: skip


def _pointing(a: Props, parts: StoryParts, r: _Record) -> Mutation | None:
    """The record's upsert and its edge to its plan or task (an orphan when that is not in the story)."""
    v = Values(a, f"{r.shape.value} '{a.get('id')}'", parts.report)
    target, ts = v.text(r.target_key), v.ms("timestamp", r.at, "ts_ms")
    known = parts.plans if r.target is NodeKind.PLAN else parts.tasks
    if target not in known:
        what = r.target.value
        parts.report.orphan(
            f"{r.shape.value} of {what} '{target}': no such {what} in story '{parts.story.key}'"
        )
        return None
    parts.report.count(r.shape)
    fields: dict[str, Scalar] = {"story_id": parts.story.key, r.target_key: target}
    fields |= {key: v.text(key).lower() if key == "role" else v.text(key) for key in r.copied}
    fields |= {r.at: iso_from_ms(ts) if ts else "", "ts_ms": ts}
    link = Link(r.link, r.target, target)
    return Mutation(r.kind, v.text("id") or f"{target}:{ts}", fields=fields, links=(link,))
