"""Registers the services on a server with request decoding that never ends as UNKNOWN.

The generated `add_ContextServiceServicer_to_server` decodes with `FromString`, and a request that is not a
valid message (a string field that is not UTF-8, such as an encoded lone surrogate) then fails inside grpc as
UNKNOWN with the parser's text. Here an undecodable request reaches the servicer as `Undecodable`, which the
`rpc` wrapper answers with INVALID_ARGUMENT like any other bad field; the RPCs that take their request's bytes
(`ContextServicer.BODY_METHODS`) decode them themselves, with the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from context_service.adapters.grpc.mappers import Undecodable
from context_service.adapters.grpc.servicer import ContextServicer
from context_service.adapters.grpc.session_servicer import SessionServicer
from fleet.context.session.v1 import session_pb2
from fleet.context.v1 import context_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["ContextService"]
SESSION_SERVICE = session_pb2.DESCRIPTOR.services_by_name["SessionContextService"]


def add_context_service(servicer: ContextServicer, server: grpc.aio.Server) -> None:
    """Register every RPC of fleet.context.v1, each with a decoder that cannot raise (none for the RPCs that
    take their request's bytes)."""
    _add(servicer, server, SERVICE, pb, bodies=ContextServicer.BODY_METHODS)


def add_session_service(servicer: SessionServicer, server: grpc.aio.Server) -> None:
    """Register every RPC of fleet.context.session.v1 (Watch server-streaming) the same way."""
    _add(servicer, server, SESSION_SERVICE, session_pb2)


def add_service(servicer: object, server: grpc.aio.Server, module: ModuleType, name: str) -> None:
    """Register every RPC of the service `name` declared in the generated `module` on `servicer`."""
    _add(servicer, server, module.DESCRIPTOR.services_by_name[name], module)


def _add(
    servicer: object,
    server: grpc.aio.Server,
    service: ServiceDescriptor,
    module: ModuleType,
    *,
    bodies: frozenset[str] = frozenset(),
) -> None:
    """`bodies`: the methods whose behaviour decodes the request bytes itself."""
    handlers = {}
    for method in service.methods:
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=(
                None if method.name in bodies else _decoder(getattr(module, method.input_type.name))
            ),
            response_serializer=_encoder(getattr(module, method.output_type.name)),
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def _encoder(message_type: type[Message]) -> Callable[[Message | bytes], bytes]:
    """Encode a reply; a reply already encoded (a cached answer) is sent as it is."""
    serialize = message_type.SerializeToString

    def encode(reply: Message | bytes) -> bytes:
        return reply if isinstance(reply, bytes) else serialize(reply)

    return encode


def _decoder(message_type: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def decode(data: bytes) -> Message | Undecodable:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Undecodable(message_type.DESCRIPTOR.name)

    return decode
