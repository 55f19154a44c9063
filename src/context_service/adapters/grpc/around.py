"""The work done around each call, as one plain async context manager: metrics, span, auth, admission.

Everything that depends only on the method (metric label children, span name and attributes, whether it is a
probe) is resolved once per method; a call pays for a timer, two counter updates, the token check when auth
is on and, only when tracing is on, a span. Refused and shed calls are still measured and traced. A unary
call's scope is opened and closed by plain calls (`CallScope`): its only await is the behaviour's own.
"""

from __future__ import annotations

import time
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType

import grpc
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from prometheus_client import Counter, Histogram

from context_service.adapters.grpc.admission import Admission, Refusal
from context_service.adapters.grpc.calls import Metadata, is_probe, split_method, status_code_of
from context_service.adapters.grpc.security import TokenFile, bearer_token
from context_service.observability.metrics import RPC_DURATION, RPC_IN_FLIGHT, RPC_REQUESTS
from context_service.observability.tracing import extract

log = structlog.get_logger()
UNAUTHENTICATED_MESSAGE = "missing or invalid bearer token"
UNAUTHENTICATED: Refusal = (grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
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


@dataclass(frozen=True)
class CallDuties:
    """Which duties run around calls: metrics, a tracer (None: tracing off), admission, accepted tokens."""

    metrics: bool = False
    tracer: trace.Tracer | None = None
    admission: Admission | None = None
    tokens: TokenFile | None = None

    def for_method(self, full_method: str, *, streaming: bool = False) -> Around:
        """The duties for one method; probes (health, reflection) need no token and skip admission.

        A server-streaming method is admitted without taking a slot (see `Admission.open_stream`).
        """
        return Around(self, full_method, streaming=streaming)


class Around:
    """The duties for one method, with everything per-method resolved once."""

    def __init__(self, duties: CallDuties, full_method: str, *, streaming: bool) -> None:
        service, method = split_method(full_method)
        probe = is_probe(full_method)
        self.streaming = streaming
        self.method = method
        self.in_flight = RPC_IN_FLIGHT.labels(method) if duties.metrics else None
        self.tracer = duties.tracer
        self.span_name = full_method.lstrip("/")
        self.attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        self.admission = None if probe else duties.admission
        self.tokens = None if probe else duties.tokens
        self.gated = self.admission is not None or self.tokens is not None
        self._outcomes: dict[grpc.StatusCode, tuple[Counter, Histogram]] = {}

    def call(self, context: grpc.aio.ServicerContext) -> CallScope:
        """The scope of one call, opened now."""
        return CallScope(self, context)

    def record(self, code: grpc.StatusCode, seconds: float) -> None:
        """Count one finished call and observe its latency (label children cached per code)."""
        children = self._outcomes.get(code)
        if children is None:
            children = (
                RPC_REQUESTS.labels(self.method, code.name),
                RPC_DURATION.labels(self.method, code.name),
            )
            self._outcomes[code] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


class CallScope:
    """One call's duties: opened as the call starts (timer, in-flight, span), closed once as it ends.

    A unary call opens it, passes its `gate` when the method is gated (auth or admission), and closes it with
    how the call ended (the refusal's abort included): no coroutine or context manager of its own. A streaming
    call enters it as an async context manager.
    """

    __slots__ = ("_admitted", "_around", "_context", "_span", "_started", "_token")

    def __init__(self, around: Around, context: grpc.aio.ServicerContext) -> None:
        self._around = around
        self._context = context
        self._span: trace.Span | None = None
        self._token: Token[Context] | None = None
        self._admitted = False
        if around.in_flight is not None:
            around.in_flight.inc()
        self._started = time.perf_counter()
        if around.tracer is not None:
            self._open_span(around.tracer)

    def gate(self) -> Refusal | None:
        """Check the bearer token, then take an admission slot: None when admitted, else the status to
        abort the call with (UNAUTHENTICATED, or the admission's refusal)."""
        around = self._around
        tokens = around.tokens
        if tokens is not None and not tokens.accepts(bearer_token(self._context.invocation_metadata())):
            log.info("rpc_unauthenticated", method=around.method)
            return UNAUTHENTICATED
        admission = around.admission
        if admission is None:
            return None
        if around.streaming:
            return admission.open_stream()
        refusal = admission.enter()
        self._admitted = refusal is None
        return refusal

    def close(self, exc: BaseException | None) -> None:
        """The call ended (`exc`: how, None when it returned): give the slot back, end the span, measure."""
        if self._admitted and self._around.admission is not None:
            self._around.admission.leave()
        self._finish(exc)

    async def __aenter__(self) -> None:
        try:
            refusal = self.gate() if self._around.gated else None
            if refusal is not None:
                await self._context.abort(*refusal)
        except BaseException as exc:  # a refused call is still measured and traced
            self.close(exc)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(exc)

    def _open_span(self, tracer: trace.Tracer) -> None:
        parent = extract(_text_metadata(self._context.invocation_metadata()))
        span = tracer.start_span(
            self._around.span_name,
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=self._around.attributes,
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, parent))

    def _finish(self, exc: BaseException | None) -> None:
        code = status_code_of(self._context, exc)
        span = self._span
        if span is not None:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in SERVER_FAULTS:
                span.set_status(trace.StatusCode.ERROR, code.name)
            if self._token is not None:
                otel_context.detach(self._token)
            span.end()
        around = self._around
        if around.in_flight is not None:
            around.in_flight.dec()
            around.record(code, time.perf_counter() - self._started)


def _text_metadata(metadata: Metadata | None) -> dict[str, str]:
    return {key: value for key, value in metadata or () if isinstance(value, str)}
