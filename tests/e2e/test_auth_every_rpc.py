"""With token auth on, every RPC of every service the server registers refuses a missing or wrong token.

The services come from the server's own reflection listing, so a service added later is covered without
editing this test; health and reflection stay open (probes and tooling need no token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from context_service.adapters.grpc.interceptors import TokenAuthInterceptor
from context_service.adapters.grpc.security import TokenFile
from tests.support.harness import Service, running_service
from tests.support.services import built_services

pytestmark = pytest.mark.e2e
TOKEN = "token-every-rpc-5be1"
OPEN = {health.SERVICE_NAME, reflection.SERVICE_NAME}


@pytest.fixture(scope="module")
async def guarded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """A service requiring a bearer token."""
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(f"{TOKEN}\n", encoding="utf-8")
    auth = TokenAuthInterceptor(tokens=TokenFile(path=Path(path), recheck_seconds=0))
    async with running_service(interceptors=[auth]) as service:
        yield service


async def served_methods(service: Service) -> list[MethodDescriptor]:
    """Every method of every guarded service the server lists through reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    stream = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name for answer in [a async for a in stream] for s in answer.list_services_response.service]
    pool = descriptor_pool.Default()
    return [m for name in names if name not in OPEN for m in pool.FindServiceByName(name).methods]


async def code_of(service: Service, method: MethodDescriptor, token: str | None) -> grpc.StatusCode:
    """The status of one call with an empty request (streams: of their first message)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = None if token is None else (("authorization", f"Bearer {token}"),)
    plain = {"request_serializer": bytes, "response_deserializer": bytes}
    try:
        if method.server_streaming:
            call = service.channel.unary_stream(path, **plain)(b"", metadata=metadata, timeout=5)
            await call.read()
            call.cancel()
        else:
            await service.channel.unary_unary(path, **plain)(b"", metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_the_server_lists_every_service_of_this_build_among_the_guarded_ones(guarded: Service) -> None:
    methods = await served_methods(guarded)

    listed = {m.containing_service.full_name for m in methods}
    assert listed >= {s.full_name for s in built_services()}


@pytest.mark.parametrize(
    "token", [None, "", "wrong-token", TOKEN[:-1]], ids=["absent", "empty", "wrong", "prefix"]
)
async def test_every_rpc_of_every_service_refuses_a_call_without_an_accepted_token(
    guarded: Service, token: str | None
) -> None:
    # Arrange
    methods = await served_methods(guarded)

    # Act
    codes = {f"{m.containing_service.name}/{m.name}": await code_of(guarded, m, token) for m in methods}

    # Assert
    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes


async def test_with_the_token_no_rpc_is_refused_as_unauthenticated(guarded: Service) -> None:
    methods = await served_methods(guarded)

    codes = {f"{m.containing_service.name}/{m.name}": await code_of(guarded, m, TOKEN) for m in methods}

    assert codes
    assert grpc.StatusCode.UNAUTHENTICATED not in set(codes.values()), codes
