"""Registers the ContextService on a server with request decoding that never ends as UNKNOWN.

The generated `add_ContextServiceServicer_to_server` decodes with `FromString`, and a request that is not a
valid message (a string field that is not UTF-8, such as an encoded lone surrogate) then fails inside grpc as
UNKNOWN with the parser's text. Here an undecodable request reaches the servicer as `Undecodable`, which the
`rpc` wrapper answers with INVALID_ARGUMENT like any other bad field.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.message import DecodeError, Message

from context_service.adapters.grpc.mappers import Undecodable
from context_service.adapters.grpc.servicer import ContextServicer
from fleet.context.v1 import context_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["ContextService"]


def add_context_service(servicer: ContextServicer, server: grpc.aio.Server) -> None:
    """Register every RPC of the service, each with a decoder that cannot raise."""
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=_decoder(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString,
        )
        for method in SERVICE.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


def _decoder(message_type: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    def decode(data: bytes) -> Message | Undecodable:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Undecodable(message_type.DESCRIPTOR.name)

    return decode
