"""grpc.aio server interceptors: RPC metrics, tracing, bearer-token authentication, admission (shedding).

gRPC's own OTel metrics plugin does not support grpc.aio, so RPC metrics and server spans come from here.
Each interceptor wraps the looked-up handler's behaviour (any of the four call kinds) in an async context
manager entered for the whole call. Order, outermost first: metrics, tracing, auth, then admission (which
GrpcServer adds itself, so shed and refused calls are still measured and traced).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from context_service.adapters.grpc.security import TokenFile, bearer_token
from context_service.observability.metrics import RPC_IN_FLIGHT, record_rpc
from context_service.observability.tracing import extract

log = structlog.get_logger()
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]

# Probes must answer under load and without credentials; reflection is a read-only diagnostic.
PROBE_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
# Server-side faults mark the span as failed; client errors (NOT_FOUND, INVALID_ARGUMENT, ...) do not.
SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
SHED_MESSAGE = "the server is at its concurrency limit; retry with backoff"
DRAINING_MESSAGE = "the server is shutting down; retry on another instance"
DRAIN_POLL_SECONDS = 0.01
UNAUTHENTICATED_MESSAGE = "missing or invalid bearer token"


def split_method(full_method: str) -> tuple[str, str]:
    """(service, short method) of a full method name such as '/fleet.context.v1.ContextService/GetContext'."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def is_probe(full_method: str) -> bool:
    """Whether the call is to the health or reflection service."""
    return split_method(full_method)[0] in PROBE_SERVICES


def status_code_of(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status code a call ended with, from how its behaviour returned or raised."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    code: grpc.StatusCode | None = context.code()  # set by abort() or set_code()
    if code is not None:
        return code
    # A behaviour raising anything but an abort is reported to the client as UNKNOWN by grpc.
    return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN


def _unary_response(behavior: Callable[..., Awaitable[Any]], around: Around) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context):
            return await behavior(request, context)

    return call


def _stream_response(behavior: Callable[..., Any], around: Around) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):
        # A coroutine that writes with context.write() and returns None.
        return _unary_response(behavior, around)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context):
            async for response in behavior(request, context):
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


@asynccontextmanager
async def _ending(context: grpc.aio.ServicerContext) -> AsyncIterator[list[grpc.StatusCode]]:
    """Yields a one-slot list that holds the call's status code once the body has finished."""
    ended: list[grpc.StatusCode] = []
    try:
        yield ended
    except BaseException as exc:
        ended.append(status_code_of(context, exc))
        raise
    else:
        ended.append(status_code_of(context, None))


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """context_grpc_requests_total, _request_duration_seconds and _in_flight_requests by method and code."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Measure every call the server can answer."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = split_method(handler_call_details.method)[1]
        return wrap_handler(handler, functools.partial(_measured, method))


@asynccontextmanager
async def _measured(method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    in_flight = RPC_IN_FLIGHT.labels(method)
    in_flight.inc()
    started = time.perf_counter()
    try:
        async with _ending(context) as ended:
            yield
    finally:
        in_flight.dec()
        record_rpc(method, ended[0].name, time.perf_counter() - started)


class TracingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """A SERVER span per call, child of the W3C trace context in the invocation metadata."""

    def __init__(self, *, tracer_provider: TracerProvider | None = None) -> None:
        """Spans go to the given provider, else to the process-wide one."""
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Trace every call the server can answer."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return wrap_handler(handler, functools.partial(self._traced, handler_call_details.method))

    @asynccontextmanager
    async def _traced(self, full_method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        service, method = split_method(full_method)
        parent = extract(_text_metadata(context.invocation_metadata()))
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        with self._tracer.start_as_current_span(
            full_method.lstrip("/"),
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,  # exception text may carry request data
            set_status_on_exception=False,
        ) as span:
            try:
                async with _ending(context) as ended:
                    yield
            finally:
                span.set_attribute("rpc.grpc.status_code", ended[0].value[0])
                if ended[0] in SERVER_FAULTS:
                    span.set_status(trace.StatusCode.ERROR, ended[0].name)


def _text_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """Refuses calls without an accepted `authorization: Bearer <token>` (health and reflection exempt)."""

    def __init__(self, *, tokens: TokenFile) -> None:
        """Tokens are checked against the (self-refreshing) token file."""
        self._tokens = tokens

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Pass accepted calls through untouched; answer the others UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        if handler is None or is_probe(handler_call_details.method):
            return handler
        if self._tokens.accepts(bearer_token(handler_call_details.invocation_metadata)):
            return handler
        log.info("rpc_unauthenticated", method=split_method(handler_call_details.method)[1])
        return wrap_handler(handler, _refuse)


@asynccontextmanager
async def _refuse(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
    yield  # unreachable: abort raises


class AdmissionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type hints
    """Admits calls: at most `limit` at once (the excess RESOURCE_EXHAUSTED, not queued), none when draining.

    Server-streaming calls (long-lived watches) are refused when draining but not counted: the servicer
    ends them itself at shutdown.

    Health and reflection are neither counted nor refused. Draining answers UNAVAILABLE (safe to retry
    elsewhere) while the calls already admitted finish; the server stops only afterwards, because calls
    reaching a stopping grpc server before it has matched them end CANCELLED, which clients cannot retry.
    """

    def __init__(self, *, limit: int | None = None) -> None:
        """`limit` concurrent calls; None for no limit (draining still applies)."""
        self._limit = limit
        self._last_arrival = time.monotonic()
        self.active = 0
        self.draining = False

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Hold a slot for the duration of each call."""
        handler = await continuation(handler_call_details)
        if handler is None or is_probe(handler_call_details.method):
            return handler
        if handler.unary_stream is not None:
            # Watch-like streams stay open for hours: they must not use up the slots of short calls.
            return wrap_handler(handler, self._open_stream)
        return wrap_handler(handler, self._slot)

    @asynccontextmanager
    async def _open_stream(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_MESSAGE)
        yield

    @asynccontextmanager
    async def _slot(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        # Every call runs on the one event loop thread, so this check-then-increment cannot race.
        self._last_arrival = time.monotonic()
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_MESSAGE)
        if self._limit is not None and self.active >= self._limit:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, SHED_MESSAGE)
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    async def drain(self, *, grace: float, quiet: float) -> bool:
        """Refuse new calls; True when admitted calls are done and arrivals quiet, False if grace ran out."""
        self.draining = True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.active == 0 and time.monotonic() - self._last_arrival >= quiet:
                return True
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        return False
