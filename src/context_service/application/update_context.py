"""UpdateContext: apply an agent's changes in one transaction and bump the story's version once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from context_service.application.commit_step import CommitStep
from context_service.application.common import KEY_REUSED, RequestMeta, require_story_graph, version_hash
from context_service.domain.changes import (
    ChangePlanner,
    ChangeRejected,
    PlannedChange,
    RawChange,
    entity_kind,
    plan_change,
)
from context_service.domain.errors import Aborted, InvalidArgument
from context_service.domain.limits import MAX_CHANGES, MAX_PAYLOAD_BYTES, optional_id, require_id
from context_service.domain.model import ChangeRecord, StoryGraph
from context_service.domain.mutations import NodeKind, WriteBatch
from context_service.domain.policy import ScopePolicy
from context_service.domain.timefmt import iso_from_ms, parse_iso
from context_service.ports.graph import NodeLocator, StoryReader
from context_service.ports.kv import JsonObject, KeyValueStore, story_scope
from context_service.ports.system import Clock

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_PREFIX = "ctx:idem:update"
# Labels a change's id may already hold in another story (a story id is checked by the story load itself).
LOCATED_KINDS = frozenset({NodeKind.TASK, NodeKind.DECISION, NodeKind.MILESTONE, NodeKind.PLAN})


@dataclass(frozen=True)
class UpdateRequest:
    """UpdateContext input."""

    story_id: str
    task_id: str
    role: str
    changes: tuple[RawChange, ...]
    timestamp: str = ""


@dataclass(frozen=True)
class UpdateResult:
    """The story's version after the call, its hash, and one warning per skipped change."""

    version: int
    hash: str
    warnings: tuple[str, ...]


def _idempotency_key(story_id: str, idempotency_key: str) -> str:
    """The record's key, beside the story's outbox records (same scope); empty without an idempotency key."""
    return f"{IDEMPOTENCY_PREFIX}:{story_scope(story_id)}:{idempotency_key}" if idempotency_key else ""


class UpdateContext:
    """Validates changes one by one, commits the valid ones atomically, records history, announces it."""

    def __init__(
        self,
        *,
        policy: ScopePolicy,
        stories: StoryReader,
        nodes: NodeLocator,
        commits: CommitStep,
        idempotency: KeyValueStore,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._stories = stories
        self._nodes = nodes
        self._commits = commits
        self._kv = idempotency
        self._clock = clock

    async def execute(self, request: UpdateRequest, meta: RequestMeta | None = None) -> UpdateResult:
        """Exactly-once per idempotency key: same key and content replays, other content is ABORTED."""
        meta = meta or RequestMeta()
        story_id = self._validate(request)
        key = _idempotency_key(story_id, meta.idempotency_key)
        if not key:
            return await self._apply(story_id, request, meta)
        fingerprint = _fingerprint(request)  # only a keyed request is compared with a stored one
        stored = await self._kv.get(key)
        if stored is not None:
            return _replay(stored, fingerprint)
        result = await self._apply(story_id, request, meta)
        record = {"fingerprint": fingerprint, "response": asdict(result)}
        await self._kv.set(key, record, ttl=IDEMPOTENCY_TTL_SECONDS)
        return result

    def _validate(self, request: UpdateRequest) -> str:
        story_id = require_id(request.story_id, "story_id")
        optional_id(request.task_id, "task_id")
        if request.role.strip():
            self._policy.require_role(request.role)
        if len(request.changes) > MAX_CHANGES:
            raise InvalidArgument(f"at most {MAX_CHANGES} changes per call", field="changes")
        for change in request.changes:
            if len(change.payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
                raise InvalidArgument(
                    f"payload of {change.entity_id.strip() or 'a change'} exceeds {MAX_PAYLOAD_BYTES} bytes",
                    field="changes.payload",
                )
        if request.timestamp.strip() and parse_iso(request.timestamp) is None:
            raise InvalidArgument("timestamp must be ISO-8601", field="timestamp")
        return story_id

    async def _apply(self, story_id: str, request: UpdateRequest, meta: RequestMeta) -> UpdateResult:
        graph = await require_story_graph(self._stories, story_id)
        now_ms = self._clock.now_ms()
        planned, warnings = await self._plan(graph, request.changes, now_ms)
        if not planned:  # nothing valid now; the request may have been applied before a crash
            done = await self._commits.replayed(story_id, meta)
            version = done.version if done is not None else graph.story.context_version
            return UpdateResult(version, version_hash(story_id, version), tuple(warnings))
        role = self._policy.normalise_role(request.role) or ""
        history = tuple(_record(p, role, request.task_id.strip(), iso_from_ms(now_ms)) for p in planned)
        batch = WriteBatch(
            story_id=story_id,
            mutations=tuple(p.mutation for p in planned),
            bump_version=True,
            history=history,
            request_id=meta.idempotency_key,
            changed=tuple((p.entity_type.value, p.entity_id) for p in planned),
        )
        committed = await self._commits.run(batch, meta)
        return UpdateResult(committed.version, version_hash(story_id, committed.version), tuple(warnings))

    async def _plan(
        self, graph: StoryGraph, changes: Sequence[RawChange], now_ms: int
    ) -> tuple[list[PlannedChange], list[str]]:
        planner = ChangePlanner(graph, now_ms, iso_from_ms(now_ms), self._policy.normalise_role)
        planner.foreign = await self._foreign(planner, changes)
        planned: list[PlannedChange] = []
        warnings: list[str] = []
        for change in changes:
            try:
                planned.append(plan_change(planner, change))
            except ChangeRejected as exc:
                warnings.append(f"Failed to process {change.entity_id.strip() or '(no id)'}: {exc}")
        return planned, warnings

    async def _foreign(
        self, planner: ChangePlanner, changes: Sequence[RawChange]
    ) -> dict[tuple[NodeKind, str], str]:
        """Owners of the changed ids that another story holds; ids live in this story need no lookup."""
        story_id = planner.graph.story.story_id
        unknown = {
            (kind, change.entity_id.strip())
            for change in changes
            if (kind := entity_kind(change.entity_type)) in LOCATED_KINDS
            and change.entity_id.strip() not in planner.live[kind]
        }
        if not unknown:
            return {}
        located = await self._nodes.locate(sorted(unknown))
        return {key: where.story_id for key, where in located.items() if where.story_id != story_id}


def _record(p: PlannedChange, role: str, task_id: str, now_iso: str) -> ChangeRecord:
    """The history entry of an applied change; the adapter stamps it with the committed version."""
    return ChangeRecord(
        version=0,
        role=role,
        task_id=task_id,
        operation=p.operation.value,
        entity_type=p.entity_type.value,
        entity_id=p.entity_id,
        reason=p.reason,
        timestamp=now_iso,
    )


def _fingerprint(request: UpdateRequest) -> str:
    canonical = json.dumps(asdict(request), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(record: JsonObject, fingerprint: str) -> UpdateResult:
    """The stored response for the same content; ABORTED for other content under the same key."""
    if record.get("fingerprint") != fingerprint:
        raise Aborted(KEY_REUSED)
    response = record.get("response")
    if not isinstance(response, dict):
        raise Aborted("idempotency record is unreadable; retry with a new key")
    return UpdateResult(int(response["version"]), str(response["hash"]), tuple(response.get("warnings", ())))
