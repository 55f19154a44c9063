"""The gRPC services this build carries: the v1 contract and its extension packages."""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

from fleet.context.admin.v1 import admin_pb2
from fleet.context.session.v1 import session_pb2
from fleet.context.v1 import context_pb2


def built_services() -> list[ServiceDescriptor]:
    """ContextService first, then the services of each extension package."""
    found = [context_pb2.DESCRIPTOR.services_by_name["ContextService"]]
    for module in (session_pb2, admin_pb2):
        found += list(module.DESCRIPTOR.services_by_name.values())
    return found
