"""The fleet.context.v1 ContextService servicer: decode, call one use case, encode."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import grpc
import structlog

from context_service.adapters.grpc import mappers
from context_service.adapters.grpc.bodies import KeptBodies
from context_service.adapters.grpc.calls import Metadata, status_code_of
from context_service.adapters.grpc.status import status_for
from context_service.application.add_project_decision import DecisionRequest
from context_service.application.common import RequestMeta
from context_service.application.create_story import StoryRequest
from context_service.application.get_context import Asked
from context_service.application.services import UseCases
from context_service.application.transition_phase import TransitionRequest
from context_service.observability.logging import bind_call, reset_call, write_info_later
from context_service.observability.tracing import current_trace_id
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc

log = structlog.get_logger()
IDEMPOTENCY_KEY = "idempotency-key"
CORRELATION_KEYS = ("x-correlation-id", "correlation-id", "x-request-id")
MAX_METADATA_VALUE = 256
_META_KEYS = frozenset((*CORRELATION_KEYS, IDEMPOTENCY_KEY))
# The call being served: its metadata is read once, when the use case or a log line first asks.
_CALL: ContextVar[_Call | None] = ContextVar("grpc_call", default=None)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]
StreamHandler = Callable[[Any, Req, grpc.aio.ServicerContext], AsyncGenerator[Resp, None]]


def request_meta(context: grpc.aio.ServicerContext) -> RequestMeta:
    """The call's correlation id, idempotency key and RPC name (the same the call's log lines carry)."""
    call = _CALL.get()
    return call.meta if call is not None else _read_meta(context.invocation_metadata(), "")


def _read_meta(metadata: Metadata | None, source: str) -> RequestMeta:
    """Correlation id and idempotency key from the invocation metadata; `source`: the RPC's name."""
    wanted: dict[str, str] = {}
    for key, value in metadata or ():
        # Only the few keys read here are kept: no dict of the whole metadata per call. Keys arrive in lower
        # case (HTTP/2 header names are, and grpc refuses others).
        if key in _META_KEYS and isinstance(value, str):
            wanted[key] = value
    if not wanted:  # most calls carry none of them
        return RequestMeta(_new_correlation_id(), "", 0, source)
    given = next((wanted[k] for k in CORRELATION_KEYS if wanted.get(k)), "")
    correlation = given or _new_correlation_id()
    key = wanted.get(IDEMPOTENCY_KEY, "").strip()
    return RequestMeta(
        correlation_id=correlation[:MAX_METADATA_VALUE],
        idempotency_key=key[:MAX_METADATA_VALUE],
        source=source,
    )


def _new_correlation_id() -> str:
    """Not a secret, only unique: 128 random bits without a system call, shaped like a uuid4 hex."""
    return f"{random.getrandbits(128):032x}"


# Which of the ids a canonical line names each request type carries, looked up once per type (a missing
# attribute costs an exception per look-up).
_ID_FIELDS = ("session_id", "story_id", "case_id")
_IDS_OF: dict[type, frozenset[str]] = {}
_CODE_NAMES = {code: code.name for code in grpc.StatusCode}


def _ids_of(request: Any) -> frozenset[str]:
    kind = type(request)
    ids = _IDS_OF.get(kind)
    if ids is None:
        ids = _IDS_OF[kind] = frozenset(name for name in _ID_FIELDS if hasattr(request, name))
    return ids


class _Call:
    """One call's bookkeeping: bound as the call being served while it runs (its metadata read only when the
    use case or a log line asks), its outcome, and its canonical line, made after the call
    (`write_info_later`): ids and outcome only, never the request's payload or the rendered context."""

    __slots__ = (
        "_call_token",
        "_context",
        "_duration_ms",
        "_fields",
        "_log_token",
        "_meta",
        "_metadata",
        "_method",
        "_started",
        "_trace_id",
        "code",
        "request",
    )

    def __init__(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        self._started = time.perf_counter()
        self._method = method
        self.request = request  # what the canonical line names (`_describe` for a request taken as bytes)
        self._context = context
        self._metadata = context.invocation_metadata()
        self._trace_id = current_trace_id()  # the call's span is current now, not when its line is made
        self._meta: RequestMeta | None = None
        self._fields: dict[str, str] | None = None
        self._duration_ms = 0.0
        self.code = grpc.StatusCode.OK
        self._call_token = _CALL.set(self)
        self._log_token = bind_call(self)

    @property
    def meta(self) -> RequestMeta:
        """Correlation id (a new one when the client sent none), idempotency key and RPC name."""
        meta = self._meta
        if meta is None:
            meta = self._meta = _read_meta(self._metadata, self._method)
        return meta

    def log_fields(self) -> dict[str, str]:
        """Correlation id and (when tracing is on) trace id, on every log line of the call."""
        fields = self._fields
        if fields is None:
            fields = self._fields = {"correlation_id": self.meta.correlation_id}
            if self._trace_id:
                fields["trace_id"] = self._trace_id
        return fields

    def line_fields(self) -> dict[str, Any]:
        """The canonical line's own fields: method, the id the request names, code and duration."""
        request = self.request
        line: dict[str, Any] = {"method": self._method}
        ids = _ids_of(request)
        session_id = request.session_id if "session_id" in ids else ""
        if session_id:
            line["session_id"] = session_id
        else:
            story_id = request.story_id if "story_id" in ids else ""
            line["story_id"] = story_id or (request.case_id if "case_id" in ids else "")
        line["code"] = _CODE_NAMES[self.code]
        line["duration_ms"] = round(self._duration_ms, 2)
        return line

    async def failed(self, exc: BaseException) -> None:
        """Record how the call failed; abort with the status table's answer for an error of ours.

        Returns (for the caller to re-raise `exc`) when the call already has its status.
        """
        context = self._context
        if isinstance(exc, grpc.aio.AbortError) or not isinstance(exc, Exception):
            # The handler already chose a status (abort), or the client went away or its deadline passed
            # (CancelledError, GeneratorExit: not Exceptions).
            self.code = status_code_of(context, exc)
            return
        if context.done():  # the call already ended (client gone, server stopped): no answer to give
            self.code = status_code_of(context, asyncio.CancelledError())
            return
        self.code, message = status_for(exc)
        if self.code is grpc.StatusCode.INTERNAL:
            log.error("rpc_failed", method=self._method, exc_info=exc)
        await context.abort(self.code, message)

    def end(self) -> None:
        """Hand the canonical line over and stop being the call served.

        A streaming call whose client vanished may be closed by the event loop's generator finalizer, in a
        Context of its own: there the bindings are not set, so there is nothing to undo.
        """
        self._duration_ms = (time.perf_counter() - self._started) * 1000
        write_info_later("rpc", self)
        try:
            _CALL.reset(self._call_token)
            reset_call(self._log_token)
        except ValueError:  # "created in a different Context"
            pass


def _describe(request: Any) -> None:
    """Name the decoded `request` in the canonical line of the call being served (which took its bytes)."""
    call = _CALL.get()
    if call is not None:
        call.request = request


def rpc(handler: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Map errors through the status table and write one canonical log line per call."""
    method = handler.__name__

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        call = _Call(method, request, context)
        try:
            mappers.check_request(request)
            return await handler(self, request, context)
        except BaseException as exc:
            await call.failed(exc)
            raise
        finally:
            call.end()

    return wrapper


def stream_rpc(handler: StreamHandler[Req, Resp]) -> StreamHandler[Req, Resp]:
    """`rpc` for server-streaming calls (async generators)."""
    method = handler.__name__

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Req, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[Resp, None]:
        call = _Call(method, request, context)
        try:
            mappers.check_request(request)
            # aclosing: when the client goes away, the handler's own clean-up runs now, not when collected.
            async with contextlib.aclosing(handler(self, request, context)) as responses:
                async for response in responses:
                    yield response
        except BaseException as exc:
            await call.failed(exc)
            raise
        finally:
            call.end()

    return wrapper


class ContextServicer(pb_grpc.ContextServiceServicer):
    """Thin inbound adapter over the use cases."""

    BODY_METHODS = frozenset({"GetContext", "RehydrateSession", "ValidateScope"})  # take the request's bytes

    def __init__(self, *, use_cases: UseCases) -> None:
        self._uc = use_cases
        self._context_bodies = KeptBodies(pb.GetContextRequest, self._context_asked)
        self._rehydrate_bodies = KeptBodies(pb.RehydrateSessionRequest, mappers.rehydrate_request)
        # A ValidateScope verdict depends on the request and the policy alone (fixed for the process's life):
        # what a body maps to is its encoded answer.
        self._scope_bodies = KeptBodies(pb.ValidateScopeRequest, self._scope_answer)

    # GetContext, RehydrateSession and ValidateScope take their request's bytes (`BODY_METHODS`, see
    # `bodies`) and answer with encoded bytes, which the registered encoder sends as they are (the generated
    # base class declares messages both ways).
    @rpc
    async def GetContext(  # type: ignore[override]
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        """Prompt context for one agent, as encoded bytes (kept by the response cache as they are sent)."""
        decoded, asked = self._context_bodies(request)
        _describe(decoded)
        reply = await self._uc.get_context.answer(asked, mappers.finished_context)
        context.set_trailing_metadata(reply.trailers)
        return reply.body

    def _context_asked(self, request: pb.GetContextRequest) -> Asked:
        return self._uc.get_context.validated(mappers.context_request(request))

    @rpc
    async def UpdateContext(
        self, request: pb.UpdateContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateContextResponse:
        """Record an agent's changes."""
        result = await self._uc.update_context.execute(mappers.update_request(request), request_meta(context))
        return mappers.update_response(result)

    @rpc
    async def RehydrateSession(  # type: ignore[override]
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        """Per-role context packs, encoded once (and kept by the response cache) and stamped per call."""
        decoded, asked = self._rehydrate_bodies(request)
        _describe(decoded)
        body, generated_at_ms = await self._uc.rehydrate_session.answer(asked, mappers.finished_rehydration)
        return body + mappers.generated_at(generated_at_ms)

    @rpc
    async def ValidateScope(  # type: ignore[override]
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        """Scopes against the policy, as the encoded answer (kept with the body)."""
        return self._scope_bodies(request)[1]

    def _scope_answer(self, request: pb.ValidateScopeRequest) -> bytes:
        verdict = self._uc.validate_scope.check(request.role, request.phase, tuple(request.provided_scopes))
        return mappers.encoded_verdict(verdict)

    @rpc
    async def CreateStory(
        self, request: pb.CreateStoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateStoryResponse:
        """Create or re-create a story."""
        story = StoryRequest(request.story_id, request.title, request.description, request.initial_phase)
        created = await self._uc.create_story.execute(story, request_meta(context))
        return pb.CreateStoryResponse(
            context_id=created.context_id, story_id=created.story_id, current_phase=created.current_phase
        )

    @rpc
    async def CreateTask(
        self, request: pb.CreateTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTaskResponse:
        """Create a task under a story."""
        created = await self._uc.create_task.execute(mappers.task_request(request), request_meta(context))
        return pb.CreateTaskResponse(
            task_id=created.task_id, story_id=created.story_id, status=created.status
        )

    @rpc
    async def AddProjectDecision(
        self, request: pb.AddProjectDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddProjectDecisionResponse:
        """Store a decision."""
        decision = DecisionRequest(
            story_id=request.story_id,
            decision_type=request.decision_type,
            title=request.title,
            rationale=request.rationale,
            alternatives_considered=request.alternatives_considered,
            metadata=dict(request.metadata),
        )
        return pb.AddProjectDecisionResponse(
            decision_id=await self._uc.add_project_decision.execute(decision, request_meta(context))
        )

    @rpc
    async def TransitionPhase(
        self, request: pb.TransitionPhaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransitionPhaseResponse:
        """Move a story to another phase."""
        transition = TransitionRequest(
            request.story_id, request.to_phase, request.from_phase, request.rationale
        )
        changed = await self._uc.transition_phase.execute(transition, request_meta(context))
        return pb.TransitionPhaseResponse(
            story_id=changed.story_id,
            current_phase=changed.current_phase,
            transitioned_at=changed.transitioned_at,
        )

    @rpc
    async def GetGraphRelationships(
        self, request: pb.GetGraphRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetGraphRelationshipsResponse:
        """A node and its neighbourhood."""
        found = await self._uc.get_graph_relationships.execute(
            request.node_id, request.node_type, request.depth
        )
        return mappers.relationships_response(found)
