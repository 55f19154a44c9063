"""Legacy records of one story -> this service's write mutations (pure; every decision it makes is reported).

Precedence where the legacy graph holds the same thing twice: ProjectCase over Case over the planning Story;
a story-era Task over a plan-era Task over a Subtask. Ids are kept (the typed legacy id becomes `id`).
Values are copied from legacy records only (never from the clock), so the same legacy graph always maps to
the same mutations and the same digest: that is what makes a second run a replay that writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from context_service.domain.history import ENTITY_TYPES
from context_service.domain.legacy import LegacyPlanning, LegacyStory, Props, Shape
from context_service.domain.legacy_parts import StoryParts, decision_mutations, orchestration_mutations
from context_service.domain.legacy_report import AdoptionReport
from context_service.domain.legacy_values import Values
from context_service.domain.mutations import Mutation, NodeKind, Scalar
from context_service.domain.schema import epic as epic_schema
from context_service.domain.schema import plan, task
from context_service.domain.schema import project as project_schema
from context_service.domain.schema import story as story_schema

RoleNormaliser = Callable[[str], str | None]
STORY_SHAPES = (Shape.PROJECT_CASE, Shape.CASE, Shape.PLANNING_STORY)


@dataclass(frozen=True)
class StoryAdoption:
    """The writes that adopt one legacy story, the entities they touch and a digest of their content."""

    story_id: str
    mutations: tuple[Mutation, ...]
    legacy_nodes: int

    @property
    def digest(self) -> str:
        """A stable digest of everything written (equal digests: nothing new to write)."""
        text = json.dumps([_plain(m) for m in self.mutations], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def entities(self) -> list[tuple[str, str]]:
        """(entity type, id) of every node written, once each, in write order."""
        seen = dict.fromkeys(
            (ENTITY_TYPES[m.kind], m.node_id) for m in self.mutations if m.kind in ENTITY_TYPES
        )
        return list(seen)


def _plain(m: Mutation) -> list[object]:
    """A mutation as plain JSON values (dataclasses.asdict deep-copies: ten times slower on a large run)."""
    links = [(k.kind.value, k.target_kind.value, k.target_id, k.incoming) for k in m.links]
    replaced = [k.value for k in m.replace_links]
    return [m.kind.value, m.node_id, m.fields, m.on_create, links, replaced, m.plan_edge]


def map_planning(
    planning: LegacyPlanning, report: AdoptionReport
) -> tuple[tuple[Mutation, ...], frozenset[str]]:
    """Project and epic upserts, and the epics adopted (an epic without a project is an orphan)."""
    projects: dict[str, Mutation] = {}
    for p in planning.projects:
        v = Values(p, f"Project '{p.get('project_id')}'", report)
        pid = v.text(*project_schema.LABEL.legacy_keys)
        name, status = v.text("name", "title") or pid, v.status("status", project_schema.DEFAULT_STATUS)
        fields: dict[str, Scalar] = {
            **project_schema.LABEL.typed(pid),
            **project_schema.fields(name, v.text("description"), v.text("owner"), status),
            "created_at_ms": v.ms("created_at_ms"),
        }
        projects[pid] = Mutation(NodeKind.PROJECT, pid, fields=fields)
        report.count(Shape.PROJECT)
    parent = {e.dst: e.src for e in planning.has_epic if e.src in projects}
    epics = [_epic(e, parent, report) for e in planning.epics]
    adopted = [m for m in epics if m is not None]
    return (*projects.values(), *adopted), frozenset(m.node_id for m in adopted)


def _epic(e: Props, parent: dict[str, str], report: AdoptionReport) -> Mutation | None:
    v = Values(e, f"Epic '{e.get('epic_id')}'", report)
    eid = v.text(*epic_schema.LABEL.legacy_keys)
    project = parent.get(eid) or v.text("project_id")
    if not project:
        report.orphan(f"Epic '{eid}': no project (stories keep epic_id '{eid}' without the edge)")
        return None
    report.count(Shape.EPIC)
    report.count(Shape.HAS_EPIC)
    title, status = v.text("title", "name") or eid, v.status("status", epic_schema.DEFAULT_STATUS)
    fields: dict[str, Scalar] = {
        **epic_schema.LABEL.typed(eid),
        **epic_schema.fields(project, title, v.text("description"), status),
        "created_at_ms": v.ms("created_at_ms"),
    }
    return Mutation(NodeKind.EPIC, eid, fields=fields, links=epic_schema.links(project))


def map_story(
    story: LegacyStory, *, roles: RoleNormaliser, epics: frozenset[str], report: AdoptionReport
) -> StoryAdoption:
    """Every write that adopts one story, in an order where each link's target is written first."""
    parts = StoryParts(story, report)
    mutations = [_story(story, epics, report)]
    mutations += [_plan(p, story.key, report) for p in parts.plans.values()]
    mutations += [_task(props, story.key, parts, roles, report) for props in parts.tasks.values()]
    mutations += decision_mutations(parts)
    mutations += orchestration_mutations(parts)
    mutations += parts.dependency_mutations()
    report.stories += 1
    report.nodes_read += story.node_count()
    return StoryAdoption(story.key, tuple(mutations), story.node_count())


def _story(story: LegacyStory, epics: frozenset[str], report: AdoptionReport) -> Mutation:
    sources = [(shape, props) for shape in STORY_SHAPES for props in story.of(shape)]
    for shape, _ in sources:
        report.count(shape)
    titled = [(shape, t) for shape, p in sources if (t := str(p.get("title") or p.get("name") or "").strip())]
    distinct = sorted({t for _, t in titled})
    if len(distinct) > 1:
        labels = "/".join(sorted({s.value for s, _ in titled}))
        kept = titled[0][1]  # the first source in precedence order
        report.conflict(f"story '{story.key}' has different titles under {labels}: {distinct}; kept {kept!r}")
    merged = _merge([p for _, p in sources])
    v = Values(merged, f"story '{story.key}'", report)
    epic = v.text("epic_id")
    fields: dict[str, Scalar] = {
        **story_schema.LABEL.typed(story.key),
        "title": v.text("title", "name") or story.key,
        "description": v.text("description"),
        "status": v.status("status", story_schema.READ_DEFAULTS["status"]),
        "current_phase": v.phase("current_phase"),
        "created_by": v.text("created_by", "requester_id"),
        "created_at": v.iso("created_at", "created_at_ms"),
        "updated_at": v.iso("updated_at", "created_at", "created_at_ms"),
        "epic_id": epic,
    }
    links = story_schema.epic_fields(epic)[1] if epic in epics else ()
    if links:
        report.count(Shape.CONTAINS_STORY)
    first = story_schema.first_version()
    return Mutation(NodeKind.STORY, story.key, fields=fields, on_create=first, links=links)


def _merge(records: list[Props]) -> dict[str, object]:
    """One record from several: the first non-blank value of each property wins."""
    merged: dict[str, object] = {}
    for props in records:
        for key, value in props.items():
            if value is not None and value != "" and key not in merged:
                merged[key] = value
    return merged


def _plan(p: Props, story_id: str, report: AdoptionReport) -> Mutation:
    v = Values(p, f"PlanVersion '{p.get('id')}'", report)
    pid = v.text("id", "plan_id")
    fields: dict[str, Scalar] = {
        **plan.LABEL.typed(pid),
        "story_id": story_id,
        "version": v.integer("version") or 1,
        "status": v.status("status", plan.DEFAULT_STATUS),
        "author_id": v.text("author_id", "author"),
        "rationale": v.text("rationale"),
        "created_at_ms": v.ms("created_at_ms", "created_at"),
    }
    return Mutation(NodeKind.PLAN, pid, fields=fields)


def _task(
    props: Props, story_id: str, parts: StoryParts, roles: RoleNormaliser, report: AdoptionReport
) -> Mutation:
    tid = str(props["task_id"])
    v = Values(props, f"Task '{tid}'", report)
    raw_role = v.text("role")
    role = roles(raw_role) if raw_role else ""
    if role is None:
        report.unmappable_value(
            f"Task '{tid}': role {raw_role!r} is not a role of the scope policy; stored as is"
        )
        role = raw_role.lower()
    plan_id = v.text("plan_id")
    fields: dict[str, Scalar] = {
        **task.LABEL.typed(tid),
        "story_id": story_id,
        "title": v.text("title", "name") or tid,
        "description": v.text("description"),
        "role": role,
        "status": v.status("status", task.DEFAULT_STATUS),
        "priority": v.integer("priority"),
        "estimated_hours": v.integer("estimated_hours"),
        "plan_id": plan_id if plan_id in parts.plans else "",
        "type": v.text("type").upper(),
        "created_at": v.iso("created_at"),
        "updated_at": v.iso("updated_at", "created_at"),
    }
    origin = parts.origins.get(tid)
    plan_edge = dict(origin) if origin is not None else ({} if fields["plan_id"] else None)
    return Mutation(NodeKind.TASK, tid, fields=fields, plan_edge=plan_edge)
