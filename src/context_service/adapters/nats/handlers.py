"""Inbound subjects (04 §4.3): each with its own durable, a payload decoder and ONE use-case call."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from context_service.adapters.nats import payloads
from context_service.adapters.nats.envelope import Envelope
from context_service.application.common import RequestMeta
from context_service.application.services import UseCases
from context_service.ports.events import OutboundEvent

T = TypeVar("T")
ResponsePayload = dict[str, Any]
Handler = Callable[[Envelope], Awaitable[ResponsePayload | None]]
HandlerFor = Callable[[str], Handler]  # the handler of one subject (the subject is the history's source)
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


def _event(
    decode: Callable[[payloads.Payload], T], apply: Callable[[T, RequestMeta], Awaitable[object]]
) -> HandlerFor:
    def for_subject(subject: str) -> Handler:
        async def handle(envelope: Envelope) -> None:
            await apply(decode(envelope.payload), event_meta(envelope, subject))

        return handle

    return for_subject


def _update(use_cases: UseCases, subject: str) -> Handler:
    async def handle(envelope: Envelope) -> ResponsePayload:
        request = payloads.update_request(envelope.payload)
        meta = RequestMeta(envelope.correlation_id, envelope.idempotency_key, source=subject)
        result = await use_cases.update_context.execute(request, meta)
        return {
            "story_id": request.story_id.strip(),
            "status": "success",
            "version": result.version,
            "hash": result.hash,
            "warnings": list(result.warnings),
        }

    return handle


def _rehydrate(use_cases: UseCases, _subject: str) -> Handler:
    async def handle(envelope: Envelope) -> ResponsePayload:
        result = await use_cases.rehydrate_session.execute(payloads.rehydrate_request(envelope.payload))
        stats = {**asdict(result.stats), "events": result.events, "roles": list(result.roles)}
        return {
            "case_id": result.case_id,
            "status": "success",
            "generated_at_ms": result.generated_at_ms,
            "packs_count": len(result.packs),
            "stats": stats,
        }

    return handle


# 04 §4.3: every inbound subject has its own durable (a shared durable silently starves one of the subjects).
DURABLES = {
    "planning.project.created": "context-planning-project-created",
    "planning.epic.created": "context-planning-epic-created",
    "planning.story.created": "context-planning-story-created",
    "planning.task.created": "context-planning-task-created",
    "planning.story.transitioned": "context-planning-story-transitions",
    "planning.plan.approved": "context-planning-plan-approved",
    "orchestration.deliberation.completed": "context-orch-deliberation-completed",
    "orchestration.task.dispatched": "context-orch-task-dispatched",
    "context.update.request": "context-update-request",
    "context.rehydrate.request": "context-rehydrate-request",
}
RESPONSES = {"context.update.request": UPDATE_RESPONSE, "context.rehydrate.request": REHYDRATE_RESPONSE}
# The payload field that names the entity, for the log line and error responses (story_id otherwise).
KEY_FIELDS = {
    "planning.project.created": "project_id",
    "planning.epic.created": "epic_id",
    "context.rehydrate.request": "case_id",
}


def build_routes(use_cases: UseCases) -> tuple[Route, ...]:
    """Every inbound subject with its durable, its handler and (for requests) its response subject."""
    uc = use_cases
    handlers: dict[str, HandlerFor] = {
        "planning.project.created": _event(payloads.project_created, uc.record_project.execute),
        "planning.epic.created": _event(payloads.epic_created, uc.record_epic.execute),
        "planning.story.created": _event(payloads.story_created, uc.create_story.execute),
        "planning.task.created": _event(payloads.task_created, uc.record_planned_task.execute),
        "planning.story.transitioned": _event(payloads.story_transitioned, uc.transition_phase.execute),
        "planning.plan.approved": _event(payloads.plan_approved, uc.approve_plan.execute),
        "orchestration.deliberation.completed": _event(
            payloads.deliberation_completed, uc.record_deliberation.execute
        ),
        "orchestration.task.dispatched": _event(payloads.task_dispatched, uc.dispatch_task.execute),
        "context.update.request": functools.partial(_update, use_cases),
        "context.rehydrate.request": functools.partial(_rehydrate, use_cases),
    }
    return tuple(
        Route(
            subject,
            DURABLES[subject],
            handler_for(subject),
            RESPONSES.get(subject, ""),
            KEY_FIELDS.get(subject, "story_id"),
        )
        for subject, handler_for in handlers.items()
    )
