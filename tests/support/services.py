"""The gRPC services this build carries: the v1 contract, and the extension packages whose stubs exist."""

from __future__ import annotations

import importlib

from google.protobuf.descriptor import ServiceDescriptor

from fleet.context.v1 import context_pb2

EXTENSION_STUBS = ("fleet.context.session.v1.session_pb2", "fleet.context.admin.v1.admin_pb2")


def built_services() -> list[ServiceDescriptor]:
    """ContextService first, then each extension service whose generated module imports."""
    found = [context_pb2.DESCRIPTOR.services_by_name["ContextService"]]
    for name in EXTENSION_STUBS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # not part of this build
            continue
        found += list(module.DESCRIPTOR.services_by_name.values())
    return found
