"""Inbound fleet events: one idempotent method per planning/orchestration subject, one write batch each.

Stored times come from the event (its envelope timestamp) and generated ids from its idempotency key, so a
redelivered event writes exactly what the first delivery wrote; batches that bump the story's version also
carry the key as `request_id`, so the graph store applies them once.
"""

from __future__ import annotations

import hashlib

from context_service.application.common import RequestMeta, publish_updated, require_phase
from context_service.application.fleet_batches import (
    decision_mutations,
    dispatch_mutations,
    plan_approval_mutations,
    task_mutation,
    transition_mutations,
)
from context_service.application.fleet_inputs import (
    DeliberationCompleted,
    EpicCreated,
    EventMeta,
    NotYetKnown,
    PlanApproved,
    ProjectCreated,
    StoryCreated,
    StoryTransitioned,
    TaskCreated,
    TaskDispatched,
)
from context_service.application.planning_nodes import epic_mutation, project_mutation
from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.limits import limit_text, optional_id, require_id, require_text
from context_service.domain.mutations import CommitResult, Link, LinkKind, Mutation, NodeKind, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.timefmt import iso_from_ms
from context_service.domain.vocabulary import Phase
from context_service.ports.events import EventPublisher
from context_service.ports.graph import GraphWriter, NodeLocator, StoryReader
from context_service.ports.system import Clock

__all__ = ["EventMeta", "FleetEvents", "NotYetKnown"]


def event_ref(idempotency_key: str) -> str:
    """A short, stable reference of one logical event (for ids of the nodes it creates)."""
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:12].upper()


def enum_value(raw: str, default: str = "") -> str:
    """An enum-like payload value, matched case-insensitively (stored upper-case)."""
    return raw.strip().upper() or default


class FleetEvents:
    """Applies planning and orchestration events to the graph."""

    def __init__(
        self,
        *,
        policy: ScopePolicy,
        stories: StoryReader,
        nodes: NodeLocator,
        writer: GraphWriter,
        publisher: EventPublisher,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._stories = stories
        self._nodes = nodes
        self._writer = writer
        self._publisher = publisher
        self._clock = clock

    async def project_created(self, event: ProjectCreated, meta: EventMeta) -> None:
        """Upsert the project."""
        project = project_mutation(
            event.project_id,
            name=event.name,
            description=event.description,
            owner=event.owner,
            status=enum_value(event.status, "ACTIVE"),
            created_at_ms=event.created_at_ms or meta.occurred_at_ms,
        )
        await self._writer.commit(WriteBatch("", (project,)))

    async def epic_created(self, event: EpicCreated, meta: EventMeta) -> None:
        """Upsert the epic under its project (which must be known)."""
        project_id = require_id(event.project_id, "project_id")
        epic = epic_mutation(
            event.epic_id,
            project_id=project_id,
            title=event.title,
            description=event.description,
            status=enum_value(event.status, "ACTIVE"),
            created_at_ms=event.created_at_ms or meta.occurred_at_ms,
        )
        await self._writer.commit(WriteBatch("", (epic,)))

    async def story_created(self, event: StoryCreated, meta: EventMeta) -> None:
        """Upsert the story under its epic (which must be known); a new story starts in its initial phase."""
        story_id = require_id(event.story_id, "story_id")
        epic_id = require_id(event.epic_id, "epic_id")
        phase = require_phase(event.initial_phase, "initial_phase") if event.initial_phase.strip() else None
        now = iso_from_ms(meta.occurred_at_ms)
        fields: dict[str, str | int] = {"title": require_text(event.title, "title"), "epic_id": epic_id}
        if event.description.strip():
            fields["description"] = limit_text(event.description, "description").strip()
        on_create = {
            "description": "",
            "status": "ACTIVE",
            "current_phase": (phase or Phase.DESIGN).value,
            "context_version": 0,
            "created_by": event.created_by.strip(),
            "created_at": now,
            "updated_at": now,
        }
        link = Link(LinkKind.CONTAINS_STORY, NodeKind.EPIC, epic_id, incoming=True)
        story = Mutation(NodeKind.STORY, story_id, fields=fields, on_create=on_create, links=(link,))
        await self._writer.commit(WriteBatch(story_id, (story,)))

    async def task_created(self, event: TaskCreated, meta: EventMeta) -> None:
        """Upsert the task in its story (given, or its plan's) and link it to its plan."""
        task_id = require_id(event.task_id, "task_id")
        plan_id = require_id(event.plan_id, "plan_id")
        story_id = await self._owner(NodeKind.PLAN, plan_id, event.story_id)
        role = self._role(event.role)
        mutation = task_mutation(event, task_id, story_id, role, iso_from_ms(meta.occurred_at_ms))
        await self._writer.commit(WriteBatch(story_id, (mutation,)))

    async def story_transitioned(self, event: StoryTransitioned, meta: EventMeta) -> str:
        """Record the transition and the story's new phase, announce it; returns the transition id."""
        story_id = require_id(event.story_id, "story_id")
        target = require_phase(event.to_phase, "to_phase")
        source = require_phase(event.from_phase, "from_phase").value if event.from_phase.strip() else ""
        if not source:
            story = await self._stories.get_story(story_id)
            if story is None:
                raise NotYetKnown("story", story_id)
            source = story.current_phase
        transition_id = f"PT-{story_id}-{meta.occurred_at_ms}-{event_ref(meta.idempotency_key)[:6]}"
        mutations = transition_mutations(
            story_id,
            transition_id,
            (source, target.value),
            limit_text(event.rationale, "rationale").strip(),
            meta.occurred_at_ms,
        )
        batch = WriteBatch(story_id, mutations, request_id=meta.idempotency_key)
        committed = await self._writer.commit(batch)
        await self._announce(story_id, committed, [("PHASE", transition_id)], transition_id, meta)
        return transition_id

    async def plan_approved(self, event: PlanApproved, meta: EventMeta) -> None:
        """Record the approval and set the plan's status to APPROVED (the plan is created when missing)."""
        plan_id = require_id(event.plan_id, "plan_id")
        story_id = await self._owner(NodeKind.PLAN, plan_id, event.story_id)
        mutations = plan_approval_mutations(
            story_id,
            plan_id,
            approved_by=event.approved_by.strip(),
            comment=limit_text(event.comment, "comment").strip(),
            at_ms=meta.occurred_at_ms,
        )
        await self._writer.commit(WriteBatch(story_id, mutations))

    async def deliberation_completed(self, event: DeliberationCompleted, meta: EventMeta) -> int:
        """Upsert each decision, bump the story's version once (with history), announce; the new version."""
        task_id = optional_id(event.task_id, "task_id")  # a story-level deliberation names no task
        if task_id:
            story_id = await self._owner(NodeKind.TASK, task_id, event.story_id)
        else:
            story_id = require_id(event.story_id, "story_id")
        planned = decision_mutations(
            story_id, task_id, event.decisions, self._role(event.role), meta.occurred_at_ms
        )
        found = await self._nodes.locate(
            [(NodeKind.STORY, story_id), *planned.affected_nodes(), *planned.decision_nodes()]
        )
        if (NodeKind.STORY, story_id) not in found:
            raise NotYetKnown("story", story_id)
        for _, affected in planned.affected_nodes():
            where = found.get((NodeKind.TASK, affected))
            if where is None:
                raise NotYetKnown("task", affected)
            if not where.live_in(story_id):
                raise InvalidArgument(f"task '{affected}' is not a task of story '{story_id}'", field="task")
        batch = WriteBatch(
            story_id,
            planned.mutations,
            bump_version=True,
            history=planned.history(found),
            request_id=meta.idempotency_key,
        )
        committed = await self._writer.commit(batch)
        changed = [("DECISION", m.node_id) for m in planned.mutations]
        await self._announce(story_id, committed, changed, f"v{committed.version}", meta)
        return committed.version

    async def task_dispatched(self, event: TaskDispatched, meta: EventMeta) -> None:
        """Set the task IN_PROGRESS and record the dispatch."""
        task_id = require_id(event.task_id, "task_id")
        claimed = optional_id(event.story_id, "story_id")
        where = (await self._nodes.locate([(NodeKind.TASK, task_id)])).get((NodeKind.TASK, task_id))
        if where is None:
            raise NotYetKnown("task", task_id)
        if not where.live_in(where.story_id):
            raise NotFound("task", task_id)
        if claimed and claimed != where.story_id:
            raise InvalidArgument(f"task '{task_id}' belongs to story '{where.story_id}'", field="story_id")
        mutations = dispatch_mutations(
            where.story_id,
            task_id,
            f"TD-{task_id}-{event_ref(meta.idempotency_key)}",
            agent_id=event.agent_id.strip(),
            role=self._role(event.role),
            at_ms=meta.occurred_at_ms,
        )
        await self._writer.commit(WriteBatch(where.story_id, mutations))

    def _role(self, raw: str) -> str:
        """A known role normalised; other fleet roles are kept (lower-case) rather than losing the event."""
        if not raw.strip():
            return ""
        return self._policy.normalise_role(raw) or raw.strip().lower()

    async def _owner(self, kind: NodeKind, node_id: str, claimed: str) -> str:
        """The story named by the event, else the story that owns `node_id`."""
        story_id = optional_id(claimed, "story_id")
        if story_id:
            return story_id
        where = (await self._nodes.locate([(kind, node_id)])).get((kind, node_id))
        if where is None or not where.story_id:
            raise NotYetKnown(kind.value.lower(), node_id)
        return where.story_id

    async def _announce(
        self,
        story_id: str,
        committed: CommitResult,
        changed: list[tuple[str, str]],
        event_key: str,
        meta: EventMeta,
    ) -> None:
        """Publish context.events.updated; a replayed commit announces again under the same key."""
        await publish_updated(
            self._publisher,
            story_id=story_id,
            version=committed.version,
            changed=changed,
            event_key=event_key,
            now_ms=self._clock.now_ms(),
            meta=RequestMeta(correlation_id=meta.correlation_id, idempotency_key=meta.idempotency_key),
        )
