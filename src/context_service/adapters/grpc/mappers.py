"""Proto <-> domain mapping; `*_pb2` types stop here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from context_service.application.create_task import TaskRequest
from context_service.application.get_context import ContextRequest, ContextResult
from context_service.application.rehydrate_session import RehydrateRequest, Rehydration
from context_service.application.update_context import UpdateRequest, UpdateResult
from context_service.application.validate_scope import ScopeVerdict
from context_service.domain.changes import RawChange
from context_service.domain.errors import InvalidArgument
from context_service.domain.model import Decision, GraphEntity, GraphLink, Neighbourhood, Task
from context_service.domain.packs import RolePack
from context_service.domain.text import check_text, is_text
from fleet.context.v1 import context_pb2 as pb


@dataclass(frozen=True)
class Undecodable:
    """A request body that is not a valid message of its type (e.g. a string field that is not UTF-8)."""

    type_name: str


def not_decodable(type_name: str) -> InvalidArgument:
    """The refusal of a request body that is not a valid `type_name`."""
    return InvalidArgument(f"the request is not a valid {type_name} (strings must be UTF-8)")


def check_request(msg: object) -> None:
    """Check every string field, map key and value of a request against the text rule."""
    if isinstance(msg, Undecodable):
        raise not_decodable(msg.type_name)
    if isinstance(msg, Message):
        _check_message(msg, "")


def _check_message(msg: Message, path: str) -> None:
    """The text rule over the fields a message has set, walked in place (no dict copy on the hot path).

    What each field holds is looked up once per field (`_kind_of`), and a field's name is only spelled out
    for the error when one of its values fails.
    """
    for field, value in msg.ListFields():
        kind = _KINDS.get(field)
        if kind is None:
            kind = _KINDS[field] = _kind_of(field)
        if kind == _TEXT:
            if not is_text(value):
                check_text(value, _name(path, field))
        elif kind == _TEXTS:
            if not is_text("".join(value)):  # no forbidden character spans two values
                for index, item in enumerate(value):
                    check_text(item, f"{_name(path, field)}[{index}]")
        elif kind == _MESSAGE:
            _check_message(value, _name(path, field))
        elif kind == _MESSAGES:
            for index, item in enumerate(value):
                _check_message(item, f"{_name(path, field)}[{index}]")
        elif kind >= _TEXT_MAP:
            _check_map(kind, value, _name(path, field))


# What the text rule looks at in a field (plain ints: an enum member costs a descriptor call per look-up); the
# maps (whose keys are checked whatever their values) come last.
_TEXT, _TEXTS, _MESSAGE, _MESSAGES, _OTHER, _TEXT_MAP, _MESSAGE_MAP, _OTHER_MAP = range(8)
_KINDS: dict[FieldDescriptor, int] = {}


def _kind_of(field: FieldDescriptor) -> int:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        value_type = entry.fields_by_name["value"].type
        if value_type == FieldDescriptor.TYPE_STRING:
            return _TEXT_MAP
        return _MESSAGE_MAP if value_type == FieldDescriptor.TYPE_MESSAGE else _OTHER_MAP
    if field.type == FieldDescriptor.TYPE_STRING:
        return _TEXTS if field.is_repeated else _TEXT
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _MESSAGES if field.is_repeated else _MESSAGE
    return _OTHER


def _name(path: str, field: FieldDescriptor) -> str:
    return f"{path}.{field.name}" if path else field.name


def _check_map(kind: int, entries: Any, name: str) -> None:
    for key, item in entries.items():
        check_text(str(key), f"a key of {name}")
        if kind == _TEXT_MAP:
            check_text(item, f"{name}.{key}")
        elif kind == _MESSAGE_MAP:
            _check_message(item, f"{name}.{key}")


def context_request(msg: pb.GetContextRequest) -> ContextRequest:
    """GetContextRequest -> domain."""
    return ContextRequest(msg.story_id, msg.role, msg.phase, msg.subtask_id, msg.token_budget)


def context_response(result: ContextResult) -> pb.GetContextResponse:
    """Domain -> GetContextResponse."""
    blocks = pb.PromptBlocks(
        system=result.blocks.system, context=result.blocks.context, tools=result.blocks.tools
    )
    return pb.GetContextResponse(
        context=result.context,
        token_count=result.token_count,
        scopes=list(result.scopes),
        version=result.version,
        blocks=blocks,
    )


@dataclass(frozen=True)
class FinishedContext:
    """A GetContext answer as sent: the encoded response and its trailers."""

    body: bytes
    trailers: tuple[tuple[str, str], ...]


def finished_context(result: ContextResult) -> tuple[FinishedContext, int]:
    """The encoded response and trailers of a GetContext result, and their size in bytes."""
    trailers = [("context-tokenizer", result.tokenizer)]
    if result.dropped_sections:
        trailers.append(("context-dropped-sections", ",".join(result.dropped_sections)))
    body = context_response(result).SerializeToString()
    return FinishedContext(body, tuple(trailers)), len(body)


def finished_rehydration(result: Rehydration) -> tuple[bytes, int]:
    """The encoded RehydrateSession response without its generation time (`generated_at` appends it)."""
    response = rehydrate_response(result)
    response.ClearField("generated_at_ms")
    body = response.SerializeToString()
    return body, len(body)


def generated_at(ms: int) -> bytes:
    """The encoded `generated_at_ms` field alone: appended to an encoded response, it sets that field."""
    return pb.RehydrateSessionResponse(generated_at_ms=ms).SerializeToString()


def encoded_verdict(verdict: ScopeVerdict) -> bytes:
    """A ValidateScope answer, encoded."""
    return pb.ValidateScopeResponse(
        allowed=verdict.allowed,
        missing=verdict.missing,
        extra=verdict.extra,
        reason=verdict.reason,
    ).SerializeToString()


def update_request(msg: pb.UpdateContextRequest) -> UpdateRequest:
    """UpdateContextRequest -> domain."""
    changes = tuple(
        RawChange(c.operation, c.entity_type, c.entity_id, c.payload, c.reason) for c in msg.changes
    )
    return UpdateRequest(msg.story_id, msg.task_id, msg.role, changes, msg.timestamp)


def update_response(result: UpdateResult) -> pb.UpdateContextResponse:
    """Domain -> UpdateContextResponse."""
    return pb.UpdateContextResponse(version=result.version, hash=result.hash, warnings=list(result.warnings))


def rehydrate_request(msg: pb.RehydrateSessionRequest) -> RehydrateRequest:
    """RehydrateSessionRequest -> domain."""
    return RehydrateRequest(
        case_id=msg.case_id,
        roles=tuple(msg.roles),
        include_timeline=msg.include_timeline,
        include_summaries=msg.include_summaries,
        timeline_events=msg.timeline_events,
        persist_bundle=msg.persist_bundle,
        ttl_seconds=msg.ttl_seconds,
    )


def _subtask(t: Task) -> pb.Subtask:
    return pb.Subtask(
        subtask_id=t.task_id,
        title=t.title,
        description=t.description,
        role=t.role,
        status=t.status,
        dependencies=list(t.dependencies),
        priority=t.priority,
    )


def _decision(d: Decision) -> pb.Decision:
    return pb.Decision(
        id=d.decision_id,
        title=d.title,
        rationale=d.rationale,
        status=d.status,
        decided_by=d.decided_by,
        decided_at=d.decided_at,
    )


def _pack(pack: RolePack) -> pb.RoleContextPack:
    """Domain pack -> RoleContextPack (header dataclasses share the proto's field names)."""
    return pb.RoleContextPack(
        role=pack.role,
        case_header=pb.CaseHeader(**asdict(pack.case_header)),
        plan_header=pb.PlanHeader(**asdict(pack.plan_header)),
        subtasks=[_subtask(t) for t in pack.subtasks],
        decisions=[_decision(d) for d in pack.decisions],
        decision_deps=[
            pb.DecisionRelation(src_id=e.src_id, dst_id=e.dst_id, relation_type=e.relation_type)
            for e in pack.decision_deps
        ],
        impacted=[
            pb.ImpactedSubtask(decision_id=d, subtask_id=t, title=title) for d, t, title in pack.impacted
        ],
        milestones=[
            pb.Milestone(event_type=m.event_type, description=m.description, ts_ms=m.ts_ms, actor=m.actor)
            for m in pack.milestones
        ],
        last_summary=pack.last_summary,
        token_budget_hint=pack.token_budget_hint,
    )


def rehydrate_response(result: Rehydration) -> pb.RehydrateSessionResponse:
    """Domain -> RehydrateSessionResponse."""
    stats = pb.RehydrationStats(
        decisions=result.stats.decisions,
        decision_edges=result.stats.decision_edges,
        impacts=result.stats.impacts,
        events=result.events,
        roles=list(result.roles),
    )
    response = pb.RehydrateSessionResponse(
        case_id=result.case_id, generated_at_ms=result.generated_at_ms, stats=stats
    )
    for role, pack in result.packs.items():
        response.packs[role].CopyFrom(_pack(pack))
    return response


def task_request(msg: pb.CreateTaskRequest) -> TaskRequest:
    """CreateTaskRequest -> domain."""
    return TaskRequest(
        story_id=msg.story_id,
        task_id=msg.task_id,
        title=msg.title,
        description=msg.description,
        role=msg.role,
        dependencies=tuple(msg.dependencies),
        priority=msg.priority,
        estimated_hours=msg.estimated_hours,
    )


def _string_props(props: Mapping[str, object]) -> dict[str, str]:
    """Graph properties as strings: scalars as text, anything else as JSON."""
    out: dict[str, str] = {}
    for key, value in sorted(props.items()):
        if value is None:
            continue
        out[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out


def _node(entity: GraphEntity) -> pb.GraphNode:
    return pb.GraphNode(
        id=entity.node_id,
        labels=[entity.label],
        properties=_string_props(entity.properties),
        type=entity.label,
        title=entity.title,
    )


def _link(link: GraphLink) -> pb.GraphRelationship:
    return pb.GraphRelationship(
        from_node_id=link.src_id,
        to_node_id=link.dst_id,
        type=link.rel_type,
        properties=_string_props(link.properties),
    )


def relationships_response(found: Neighbourhood) -> pb.GetGraphRelationshipsResponse:
    """Domain -> GetGraphRelationshipsResponse."""
    message = f"found {len(found.neighbours)} neighbours and {len(found.links)} relationships"
    if found.truncated:
        message += " (neighbours capped)"
    return pb.GetGraphRelationshipsResponse(
        node=_node(found.node),
        neighbors=[_node(n) for n in found.neighbours],
        relationships=[_link(link) for link in found.links],
        success=True,
        message=message,
    )
