"""Builds stories through the public RPCs, with distinctive marker text per role, for the e2e suites.

Every piece of free text carries a marker (`{role}-title-{n}-{tag}`, `{role}-rationale-{tag}`, ...) so a
test can tell exactly which entity leaked into a response. `tag` is unique per story and never a
substring of another story's tag, unlike story ids such as `S-1` and `S-10`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from context_service.domain.model import Milestone
from fleet.context.v1 import context_pb2 as pb
from tests.support.harness import Service

ROLES = ("architect", "developer", "devops", "qa", "data")
DECISION_TYPES = {
    "architect": "ARCHITECTURE",
    "developer": "IMPLEMENTATION",
    "devops": "INFRASTRUCTURE",
    "qa": "TESTING",
    "data": "DATA",
}
MILESTONE_TIMES = ("2026-10-01T09:00:00Z", "2026-10-02T09:00:00Z")
PLANNING_EVENT_MS = 1_790_000_000_000


@dataclass(frozen=True)
class SeededTask:
    """A task as written, with the 'why this task exists' metadata when it was written with it."""

    task_id: str
    role: str
    title: str
    description: str
    priority: int
    dependencies: tuple[str, ...] = ()
    origin: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeededDecision:
    """A decision as written; `note` is a metadata value."""

    decision_id: str
    title: str
    rationale: str
    alternatives: str
    note: str
    influences: tuple[str, ...]


@dataclass(frozen=True)
class SeededStory:
    """Everything a builder wrote for one story, with the selection rules tests compare against."""

    story_id: str
    title: str
    description: str
    tag: str
    tasks: tuple[SeededTask, ...]
    decisions: tuple[SeededDecision, ...]
    decision_edges: tuple[tuple[str, str], ...]
    milestones: tuple[str, ...]
    plan_id: str
    plan_rationale: str
    story_summary: str
    role_summaries: Mapping[str, str]

    def tasks_of(self, role: str) -> list[SeededTask]:
        """The role's tasks."""
        return [t for t in self.tasks if t.role == role]

    def task(self, task_id: str) -> SeededTask:
        """One task by id."""
        return next(t for t in self.tasks if t.task_id == task_id)

    def relevant_decisions(self, role: str) -> list[SeededDecision]:
        """Decisions influencing the role's tasks (every role has some, so no fallback applies)."""
        own = {t.task_id for t in self.tasks_of(role)}
        return [d for d in self.decisions if own.intersection(d.influences)]

    def summary_for(self, role: str) -> str:
        """The role's summary, else the story's."""
        return self.role_summaries.get(role, self.story_summary)

    def summaries(self) -> list[str]:
        """Every summary text of the story."""
        return [self.story_summary, *self.role_summaries.values()]

    def markers(self) -> list[str]:
        """Every marker text of the story's tasks, decisions, timeline, plan and summaries."""
        texts = [self.description, self.plan_rationale, *self.milestones, *self.summaries()]
        texts += [x for t in self.tasks for x in (t.title, t.description)]
        texts += [v for t in self.tasks for k, v in t.origin.items() if k != "decided_at"]  # dates are shared
        texts += [x for d in self.decisions for x in (d.title, d.rationale, d.alternatives, d.note)]
        return texts

    def entity_ids(self) -> list[str]:
        """The ids of the story's tasks, decisions and plan."""
        return [*(t.task_id for t in self.tasks), *(d.decision_id for d in self.decisions), self.plan_id]


def story_tag(story_id: str) -> str:
    """A marker unique to a story id that is never a substring of another story's marker."""
    return "m" + hashlib.sha256(story_id.encode()).hexdigest()[:10] + "z"


def response_strings(message: Message) -> list[str]:
    """Every string (values and map keys) anywhere in a response message."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            found.append(str(value))

    walk(MessageToDict(message, preserving_proto_field_name=True))
    return found


def change(operation: str, entity_type: str, entity_id: str, payload: Mapping[str, Any]) -> pb.ContextChange:
    """One UpdateContext change with a JSON payload."""
    return pb.ContextChange(
        operation=operation,
        entity_type=entity_type,
        entity_id=entity_id,
        payload=json.dumps(payload),
        reason=f"seed {entity_type.lower()} {entity_id}",
    )


async def apply_changes(
    service: Service, story_id: str, *changes: pb.ContextChange
) -> pb.UpdateContextResponse:
    """UpdateContext that must apply every change (a builder mistake fails loudly)."""
    response = await service.stub.UpdateContext(
        pb.UpdateContextRequest(story_id=story_id, role="architect", changes=list(changes))
    )
    assert not response.warnings, list(response.warnings)
    return response


async def _seed_tasks(service: Service, story_id: str, tag: str) -> list[SeededTask]:
    """Per role: task 1 through CreateTask, task 2 through UpdateContext with its origin metadata."""
    tasks: list[SeededTask] = []
    for index, role in enumerate(ROLES):
        first = SeededTask(
            task_id=f"{story_id}-T-{role}-1",
            role=role,
            title=f"{role}-title-1-{tag}",
            description=f"{role}-desc-1-{tag} of {story_id}",
            priority=index + 1,
            dependencies=(f"{story_id}-T-developer-1",) if role == "qa" else (),
        )
        await service.stub.CreateTask(
            pb.CreateTaskRequest(
                story_id=story_id,
                task_id=first.task_id,
                title=first.title,
                description=first.description,
                role=role,
                dependencies=list(first.dependencies),
                priority=first.priority,
            )
        )
        second = SeededTask(
            task_id=f"{story_id}-T-{role}-2",
            role=role,
            title=f"{role}-title-2-{tag}",
            description=f"{role}-desc-2-{tag} of {story_id}",
            priority=index + 6,
            dependencies=(first.task_id,),
            origin={
                "decided_by": f"{role}-council-{tag}",
                "decision_reason": f"{role}-reason-{tag}",
                "council_feedback": f"{role}-feedback-{tag}",
                "source": f"{role}-source-{tag}",
                "decided_at": "2026-09-30T08:00:00Z",
            },
        )
        payload = {
            "title": second.title,
            "description": second.description,
            "role": role,
            "priority": second.priority,
            "dependencies": list(second.dependencies),
            **second.origin,
        }
        await apply_changes(service, story_id, change("CREATE", "SUBTASK", second.task_id, payload))
        tasks += [first, second]
    return tasks


async def _seed_role_decisions(service: Service, story_id: str, tag: str) -> list[SeededDecision]:
    """One decision per role through AddProjectDecision, influencing that role's tasks."""
    decisions: list[SeededDecision] = []
    for role in ROLES:
        influences = (f"{story_id}-T-{role}-1", f"{story_id}-T-{role}-2")
        seeded = SeededDecision(
            decision_id="",
            title=f"{role}-dectitle-{tag}",
            rationale=f"{role}-rationale-{tag} for {story_id}",
            alternatives=f"{role}-alternatives-{tag}",
            note=f"{role}-note-{tag}",
            influences=influences,
        )
        response = await service.stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(
                story_id=story_id,
                decision_type=DECISION_TYPES[role],
                title=seeded.title,
                rationale=seeded.rationale,
                alternatives_considered=seeded.alternatives,
                metadata={"role": "architect", "task_ids": ",".join(influences), "note": seeded.note},
            )
        )
        decisions.append(dataclasses.replace(seeded, decision_id=response.decision_id))
    return decisions


async def _seed_update_decisions(
    service: Service, story_id: str, tag: str, by_role: Mapping[str, SeededDecision]
) -> tuple[list[SeededDecision], list[tuple[str, str]]]:
    """A global decision (no tasks) and a developer+qa decision through UpdateContext, plus edges."""
    global_decision = _marker_decision(f"{story_id}-DEC-GLOBAL", "global", tag, ())
    shared_tasks = (f"{story_id}-T-developer-1", f"{story_id}-T-qa-1")
    shared = _marker_decision(f"{story_id}-DEC-SHARED", "shared", tag, shared_tasks)
    changes = [
        change("CREATE", "DECISION", d.decision_id, _decision_payload(d)) for d in (global_decision, shared)
    ]
    edges = [
        (shared.decision_id, global_decision.decision_id),
        (by_role["developer"].decision_id, global_decision.decision_id),
        (by_role["qa"].decision_id, shared.decision_id),
    ]
    changes += [change("UPDATE", "DECISION", src, {"depends_on": [dst]}) for src, dst in edges]
    await apply_changes(service, story_id, *changes)
    return [global_decision, shared], edges


def _marker_decision(decision_id: str, name: str, tag: str, influences: tuple[str, ...]) -> SeededDecision:
    return SeededDecision(
        decision_id=decision_id,
        title=f"{name}-dectitle-{tag}",
        rationale=f"{name}-rationale-{tag}",
        alternatives=f"{name}-alternatives-{tag}",
        note=f"{name}-note-{tag}",
        influences=influences,
    )


def _decision_payload(d: SeededDecision) -> dict[str, Any]:
    return {
        "title": d.title,
        "rationale": d.rationale,
        "status": "ACCEPTED",
        "decision_type": "ARCHITECTURE",
        "alternatives_considered": d.alternatives,
        "decided_by": "architect",
        "metadata": {"note": d.note},
        "task_ids": list(d.influences),
    }


async def _seed_timeline(service: Service, story_id: str, tag: str) -> list[str]:
    """Two graph milestones, one planning-stream event and one phase transition (DESIGN -> BUILD)."""
    texts = [f"milestone-{n}-{tag}" for n in (1, 2)]
    await apply_changes(
        service,
        story_id,
        *(
            change(
                "CREATE",
                "MILESTONE",
                f"{story_id}-M-{n}",
                {"event_type": "review", "description": text, "actor": "reviewer", "timestamp": when},
            )
            for n, (text, when) in enumerate(zip(texts, MILESTONE_TIMES, strict=True), start=1)
        ),
    )
    planning_text = f"planning-event-{tag}"
    await service.planning.append_planning_event(
        story_id, Milestone(event_type="plan_approved", description=planning_text, ts_ms=PLANNING_EVENT_MS)
    )
    transition_text = f"transition-why-{tag}"
    await service.stub.TransitionPhase(
        pb.TransitionPhaseRequest(
            story_id=story_id, from_phase="DESIGN", to_phase="BUILD", rationale=transition_text
        )
    )
    return [*texts, planning_text, transition_text]


async def build_story(service: Service, story_id: str, tag: str | None = None) -> SeededStory:
    """A story where every role has two tasks and a decision, plus edges, timeline, plan and summaries."""
    tag = tag or story_tag(story_id)
    title = f"Story {tag}"
    description = f"story-desc-{tag} of {story_id}"
    await service.stub.CreateStory(
        pb.CreateStoryRequest(story_id=story_id, title=title, description=description, initial_phase="DESIGN")
    )
    tasks = await _seed_tasks(service, story_id, tag)
    role_decisions = await _seed_role_decisions(service, story_id, tag)
    by_role = dict(zip(ROLES, role_decisions, strict=True))
    extra, edges = await _seed_update_decisions(service, story_id, tag, by_role)
    milestones = await _seed_timeline(service, story_id, tag)
    plan_id, plan_rationale = f"{story_id}-PLAN", f"plan-rationale-{tag}"
    await apply_changes(
        service,
        story_id,
        change("CREATE", "PLAN", plan_id, {"version": 2, "status": "APPROVED", "rationale": plan_rationale}),
    )
    story_summary = f"story-summary-{tag}"
    role_summaries = {role: f"{role}-summary-{tag}" for role in ("architect", "developer")}
    await service.planning.put_summary(story_id, story_summary)
    for role, text in role_summaries.items():
        await service.planning.put_summary(story_id, text, role=role)
    return SeededStory(
        story_id=story_id,
        title=title,
        description=description,
        tag=tag,
        tasks=tuple(tasks),
        decisions=(*role_decisions, *extra),
        decision_edges=tuple(edges),
        milestones=tuple(milestones),
        plan_id=plan_id,
        plan_rationale=plan_rationale,
        story_summary=story_summary,
        role_summaries=role_summaries,
    )
