"""One grpc.aio server interceptor around every call: auth, admission, RPC metrics and (when on) tracing.

gRPC's own OTel metrics plugin does not support grpc.aio, so RPC metrics and server spans come from here.
Each grpc.aio interceptor costs a continuation and a handler wrapper per call, so the duties are folded into
one `CallInterceptor` that wraps each method's handler once and enters one plain async context manager per
call. Order, outermost first, as separate interceptors had it: metrics, tracing, auth, then admission (shed
and refused calls are still measured and traced). `MetricsInterceptor`, `TracingInterceptor` and
`TokenAuthInterceptor` build single-duty interceptors; `GrpcServer` folds whatever it is given into one.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self

import grpc
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from context_service.adapters.grpc.admission import Admission
from context_service.adapters.grpc.around import Around, CallDuties
from context_service.adapters.grpc.calls import is_probe, split_method
from context_service.adapters.grpc.security import TokenFile, bearer_token

log = structlog.get_logger()
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
Behaviour = Callable[..., Any]
UNAUTHENTICATED_MESSAGE = "missing or invalid bearer token"


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """Every duty around a call in one interceptor; each method's wrapped handler is built once."""

    def __init__(
        self,
        *,
        metrics: bool = False,
        tracer: trace.Tracer | None = None,
        tokens: TokenFile | None = None,
        admission: Admission | None = None,
    ) -> None:
        """Measure when `metrics`, trace with `tracer`, require a bearer token in `tokens`, admit."""
        self.duties = CallDuties(metrics=metrics, tracer=tracer, admission=admission)
        self.tokens = tokens
        self._handlers: dict[tuple[str, bool], tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def merged(self, other: CallInterceptor) -> Self:
        """One interceptor doing both interceptors' duties (other's settings where it has them)."""
        mine, theirs = self.duties, other.duties
        return type(self)(
            metrics=mine.metrics or theirs.metrics,
            tracer=theirs.tracer or mine.tracer,
            tokens=other.tokens or self.tokens,
            admission=theirs.admission or mine.admission,
        )

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """The handler wrapped with the duties; a refused call gets one answering UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        full_method: str = handler_call_details.method
        refused = not self._accepts(full_method, handler_call_details.invocation_metadata)
        cached = self._handlers.get((full_method, refused))
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, full_method, refused)
        self._handlers[(full_method, refused)] = (handler, wrapped)
        return wrapped

    def _accepts(self, full_method: str, metadata: Any) -> bool:
        if self.tokens is None or is_probe(full_method) or self.tokens.accepts(bearer_token(metadata)):
            return True
        log.info("rpc_unauthenticated", method=split_method(full_method)[1])
        return False

    def _wrap(self, handler: grpc.RpcMethodHandler, full_method: str, refused: bool) -> grpc.RpcMethodHandler:
        around = self.duties.for_method(
            full_method,
            admit=not refused and not is_probe(full_method),
            streaming=handler.unary_stream is not None,
        )
        if refused:
            return wrap_handler(handler, around, replace=_refuse)
        return wrap_handler(handler, around)


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


def _unary_response(behavior: Behaviour, around: Around) -> Behaviour:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around.call(context):
            return await behavior(request, context)

    return call


def _stream_response(behavior: Behaviour, around: Around) -> Behaviour:
    if not inspect.isasyncgenfunction(behavior):
        # A coroutine that writes with context.write() and returns None.
        return _unary_response(behavior, around)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        # aclosing: a stream dropped mid-yield closes the handler's generator now, in this call's order.
        async with around.call(context), contextlib.aclosing(behavior(request, context)) as responses:
            async for response in responses:
                yield response

    return stream


def wrap_handler(
    handler: grpc.RpcMethodHandler, around: Around, *, replace: Behaviour | None = None
) -> grpc.RpcMethodHandler:
    """The same handler (same kind, same serializers) with `around` entered for the whole of each call.

    Behaviours must be async (coroutines or async generators), as every servicer on this aio server is.
    `replace` answers instead of the handler's own behaviour (a refusal).
    """
    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        behavior = replace or handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(_unary_response(behavior, around), **codecs)
    if handler.stream_unary is not None:
        behavior = replace or handler.stream_unary
        return grpc.stream_unary_rpc_method_handler(_unary_response(behavior, around), **codecs)
    if handler.unary_stream is not None:
        behavior = replace or handler.unary_stream
        return grpc.unary_stream_rpc_method_handler(_stream_response(behavior, around), **codecs)
    behavior = replace or handler.stream_stream
    return grpc.stream_stream_rpc_method_handler(_stream_response(behavior, around), **codecs)


def MetricsInterceptor() -> CallInterceptor:
    """context_grpc_requests_total, _request_duration_seconds and _in_flight_requests by method and code."""
    return CallInterceptor(metrics=True)


def TracingInterceptor(*, tracer_provider: TracerProvider | None = None) -> CallInterceptor:
    """A SERVER span per call, child of the W3C trace context in the invocation metadata."""
    return CallInterceptor(tracer=trace.get_tracer(__name__, tracer_provider=tracer_provider))


def TokenAuthInterceptor(*, tokens: TokenFile) -> CallInterceptor:
    """Refuses calls without an accepted `authorization: Bearer <token>` (health and reflection exempt)."""
    return CallInterceptor(tokens=tokens)
