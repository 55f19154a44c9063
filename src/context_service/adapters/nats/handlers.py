"""Inbound subjects (04 §4.3) in one table: subject, durable, decoder, use case, key field, response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from context_service.adapters.nats import payloads
from context_service.adapters.nats.envelope import Envelope
from context_service.application.common import RequestMeta
from context_service.application.rehydrate_session import RehydrateRequest, Rehydration
from context_service.application.services import UseCases
from context_service.application.update_context import UpdateRequest, UpdateResult
from context_service.ports.events import OutboundEvent

ResponsePayload = dict[str, Any]
Handler = Callable[[Envelope], Awaitable[ResponsePayload | None]]
UPDATE_RESPONSE = "context.update.response"
REHYDRATE_RESPONSE = "context.rehydrate.response"


@dataclass(frozen=True)
class Route:
    """One inbound subject: its durable, its handler and, for requests, where the response goes."""

    subject: str
    durable: str
    handle: Handler
    response_subject: str = ""
    key_field: str = "story_id"

    def error_response(self, key_value: str, code: str, message: str) -> ResponsePayload:
        """The response payload of a request that failed permanently."""
        error = {"code": code, "message": message}
        if self.response_subject == REHYDRATE_RESPONSE:
            return {
                "case_id": key_value,
                "status": "error",
                "generated_at_ms": 0,
                "packs_count": 0,
                "stats": {},
                "error": error,
            }
        return {
            "story_id": key_value,
            "status": "error",
            "version": 0,
            "hash": "",
            "warnings": [],
            "error": error,
        }


def response_event(
    route: Route, payload: Mapping[str, Any], *, request_key: str, correlation_id: str
) -> OutboundEvent:
    """The response envelope: correlation echoed, caused by the request's idempotency key."""
    return OutboundEvent(
        subject=route.response_subject,
        event_type=route.response_subject,
        payload=payload,
        idempotency_key=f"{route.response_subject}:{request_key}",
        correlation_id=correlation_id,
        causation_id=request_key,
    )


def event_meta(envelope: Envelope, subject: str) -> RequestMeta:
    """The envelope facts a use case needs: correlation, idempotency key, when it happened, its subject."""
    return RequestMeta(envelope.correlation_id, envelope.idempotency_key, envelope.occurred_at_ms, subject)


Call = Callable[[Any, RequestMeta], Awaitable[Any]]


@dataclass(frozen=True)
class Subject:
    """One row of the routing table: everything a subject needs, declared once."""

    subject: str
    durable: str
    decode: Callable[[payloads.Payload], Any]
    use: Callable[[UseCases], Call]  # picks the one use case the subject calls
    key_field: str = "story_id"  # the payload field naming the entity (log line, error responses)
    response_subject: str = ""
    reply: Callable[[Any, Any], ResponsePayload] | None = None  # (decoded input, result) -> response


def _rehydrate(use_cases: UseCases) -> Call:
    async def call(request: RehydrateRequest, _: RequestMeta) -> Rehydration:
        return await use_cases.rehydrate_session.execute(request)

    return call


def _update_reply(request: UpdateRequest, result: UpdateResult) -> ResponsePayload:
    return {
        "story_id": request.story_id.strip(),
        "status": "success",
        "version": result.version,
        "hash": result.hash,
        "warnings": list(result.warnings),
    }


def _rehydrate_reply(_: RehydrateRequest, result: Rehydration) -> ResponsePayload:
    return {
        "case_id": result.case_id,
        "status": "success",
        "generated_at_ms": result.generated_at_ms,
        "packs_count": len(result.packs),
        "stats": {**asdict(result.stats), "events": result.events, "roles": list(result.roles)},
    }


# 04 §4.3: every inbound subject has its own durable (a shared durable silently starves one of the subjects).
SUBJECTS: tuple[Subject, ...] = (
    Subject(
        "planning.project.created",
        "context-planning-project-created",
        payloads.project_created,
        lambda uc: uc.record_project.execute,
        key_field="project_id",
    ),
    Subject(
        "planning.epic.created",
        "context-planning-epic-created",
        payloads.epic_created,
        lambda uc: uc.record_epic.execute,
        key_field="epic_id",
    ),
    Subject(
        "planning.story.created",
        "context-planning-story-created",
        payloads.story_created,
        lambda uc: uc.create_story.execute,
    ),
    Subject(
        "planning.task.created",
        "context-planning-task-created",
        payloads.task_created,
        lambda uc: uc.record_planned_task.execute,
    ),
    Subject(
        "planning.story.transitioned",
        "context-planning-story-transitions",
        payloads.story_transitioned,
        lambda uc: uc.transition_phase.execute,
    ),
    Subject(
        "planning.plan.approved",
        "context-planning-plan-approved",
        payloads.plan_approved,
        lambda uc: uc.approve_plan.execute,
    ),
    Subject(
        "orchestration.deliberation.completed",
        "context-orch-deliberation-completed",
        payloads.deliberation_completed,
        lambda uc: uc.record_deliberation.execute,
    ),
    Subject(
        "orchestration.task.dispatched",
        "context-orch-task-dispatched",
        payloads.task_dispatched,
        lambda uc: uc.dispatch_task.execute,
    ),
    Subject(
        "context.update.request",
        "context-update-request",
        payloads.update_request,
        lambda uc: uc.update_context.execute,
        response_subject=UPDATE_RESPONSE,
        reply=_update_reply,
    ),
    Subject(
        "context.rehydrate.request",
        "context-rehydrate-request",
        payloads.rehydrate_request,
        _rehydrate,
        key_field="case_id",
        response_subject=REHYDRATE_RESPONSE,
        reply=_rehydrate_reply,
    ),
)


def _handler(entry: Subject, call: Call) -> Handler:
    """Decode, call the use case, and build the response when the subject has one."""

    async def handle(envelope: Envelope) -> ResponsePayload | None:
        decoded = entry.decode(envelope.payload)
        result = await call(decoded, event_meta(envelope, entry.subject))
        return entry.reply(decoded, result) if entry.reply is not None else None

    return handle


def build_routes(use_cases: UseCases) -> tuple[Route, ...]:
    """Every inbound subject with its durable, its handler and (for requests) its response subject."""
    return tuple(
        Route(s.subject, s.durable, _handler(s, s.use(use_cases)), s.response_subject, s.key_field)
        for s in SUBJECTS
    )
