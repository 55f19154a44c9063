"""A bare grpc.aio server answering `/bench.Echo/Reply<N>` with N bytes: the transport's own cost.

Run as its own process (`python -m bench.echo PORT`): no interceptors, no logging, no metrics (only a
health service, to say it is up), identity (de)serialisers, on the event loop the service runs on
(`EVENT_LOOP`): what the service costs beyond this is its own.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from bench.wire import reply_bytes_of
from context_service import event_loop

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class EchoHandlers(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no type hints
    """One unary handler per reply size, built on first use and kept."""

    def __init__(self) -> None:
        self._handlers: dict[int, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """The handler for this method path, or None (UNIMPLEMENTED) when it is not an echo path."""
        size = reply_bytes_of(handler_call_details.method)
        if size is None:
            return None
        if size not in self._handlers:
            reply = b"x" * size

            async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
                return reply

            self._handlers[size] = grpc.unary_unary_rpc_method_handler(answer)
        return self._handlers[size]


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers((EchoHandlers(),))
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)  # "" is SERVING
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    # The same event loop as the service's (EVENT_LOOP, default uvloop): the ceiling of the same transport.
    event_loop.run(serve(int(sys.argv[1])), event_loop.configured())
