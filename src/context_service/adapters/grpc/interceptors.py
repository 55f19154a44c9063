"""Every duty around a call (RPC metrics, tracing, auth, admission) wrapped around each method's handler once.

gRPC's own OTel metrics plugin does not support grpc.aio, so RPC metrics and server spans come from here.
A grpc.aio server interceptor costs every call a coroutine, a continuation and a handler look-up (about a
tenth of a bare echo's CPU), so `GrpcServer` applies a `CallInterceptor` where the handlers are registered
(`WrappingServer`) and gives grpc no interceptor; it still works as a plain interceptor elsewhere. Each call
has one `CallScope`, opened and closed by plain calls around a unary behaviour and entered as an async
context manager around a stream. Order, outermost first, as separate interceptors had it: metrics,
tracing, auth, then admission (refused and shed calls are still measured and traced). `MetricsInterceptor`,
`TracingInterceptor` and `TokenAuthInterceptor` build single-duty interceptors; `GrpcServer` folds whatever
it is given into one.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from context_service.adapters.grpc.admission import Admission
from context_service.adapters.grpc.around import Around, CallDuties
from context_service.adapters.grpc.security import TokenFile

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
Behaviour = Callable[..., Any]


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """Every duty around a call in one wrapper; each method's wrapped handler is built once."""

    def __init__(
        self,
        *,
        metrics: bool = False,
        tracer: trace.Tracer | None = None,
        tokens: TokenFile | None = None,
        admission: Admission | None = None,
    ) -> None:
        """Measure when `metrics`, trace with `tracer`, require a bearer token in `tokens`, admit."""
        self.duties = CallDuties(metrics=metrics, tracer=tracer, admission=admission, tokens=tokens)
        self._handlers: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def merged(self, other: CallInterceptor) -> Self:
        """One interceptor doing both interceptors' duties (other's settings where it has them)."""
        mine, theirs = self.duties, other.duties
        return type(self)(
            metrics=mine.metrics or theirs.metrics,
            tracer=theirs.tracer or mine.tracer,
            tokens=theirs.tokens or mine.tokens,
            admission=theirs.admission or mine.admission,
        )

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """The handler wrapped with the duties (as a plain interceptor)."""
        handler = await continuation(handler_call_details)
        return None if handler is None else self.wrapped(handler_call_details.method, handler)

    def wrapped(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` with the duties around each call (built once per method and kept)."""
        cached = self._handlers.get(full_method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        around = self.duties.for_method(full_method, streaming=handler.unary_stream is not None)
        wrapped = wrap_handler(handler, around)
        self._handlers[full_method] = (handler, wrapped)
        return wrapped


class _WrappedHandlers(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no type hints
    """A generic handler whose method handlers come wrapped by one `CallInterceptor`."""

    def __init__(self, handlers: grpc.GenericRpcHandler, interceptor: CallInterceptor) -> None:
        self._handlers = handlers
        self._interceptor = interceptor

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """The wrapped handler for the call's method, or None when the inner one has none."""
        handler = self._handlers.service(handler_call_details)
        return None if handler is None else self._interceptor.wrapped(handler_call_details.method, handler)


class WrappingServer:
    """A grpc.aio server as the `add_*_to_server` functions see it: what they register comes wrapped."""

    def __init__(self, server: grpc.aio.Server, interceptor: CallInterceptor) -> None:
        self._server = server
        self._interceptor = interceptor

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Register the handlers, each wrapped."""
        self._server.add_generic_rpc_handlers(tuple(_WrappedHandlers(h, self._interceptor) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        """Register the per-method handlers, each wrapped."""
        wrap = self._interceptor.wrapped
        wrapped = {name: wrap(f"/{service}/{name}", handler) for name, handler in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)


def _unary_response(behavior: Behaviour, around: Around) -> Behaviour:
    gated = around.gated

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope = around.call(context)
        try:
            if gated and (refusal := scope.gate()) is not None:
                await context.abort(*refusal)
            response = await behavior(request, context)
        except BaseException as exc:
            scope.close(exc)
            raise
        scope.close(None)
        return response

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


def wrap_handler(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    """The same handler (same kind, same serializers) with `around` entered for the whole of each call.

    Behaviours must be async (coroutines or async generators), as every servicer on this aio server is.
    """
    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary_response(handler.unary_unary, around), **codecs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_unary_response(handler.stream_unary, around), **codecs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_stream_response(handler.unary_stream, around), **codecs)
    return grpc.stream_stream_rpc_method_handler(_stream_response(handler.stream_stream, around), **codecs)


def MetricsInterceptor() -> CallInterceptor:
    """context_grpc_requests_total, _request_duration_seconds and _in_flight_requests by method and code."""
    return CallInterceptor(metrics=True)


def TracingInterceptor(*, tracer_provider: TracerProvider | None = None) -> CallInterceptor:
    """A SERVER span per call, child of the W3C trace context in the invocation metadata."""
    return CallInterceptor(tracer=trace.get_tracer(__name__, tracer_provider=tracer_provider))


def TokenAuthInterceptor(*, tokens: TokenFile) -> CallInterceptor:
    """Refuses calls without an accepted `authorization: Bearer <token>` (health and reflection exempt)."""
    return CallInterceptor(tokens=tokens)
