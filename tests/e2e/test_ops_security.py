"""TLS, mutual TLS and bearer tokens on the real server: refused without credentials, served with them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from context_service.adapters.grpc.interceptors import TokenAuthInterceptor
from context_service.adapters.grpc.security import SecurityFileError, TokenFile, server_credentials
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc as pb_grpc
from tests.support.harness import Service, running_service
from tests.support.tls import KeyPair, Pki, make_pki

REQUEST = pb.ValidateScopeRequest(role="developer", phase="BUILD", provided_scopes=[])
TOKEN = "token-alpha-3f9c2e"
ROTATED = "token-beta-81d0aa"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates made for this module only."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_credentials(pki: Pki, *, mutual: bool) -> grpc.ServerCredentials:
    """Server credentials from the generated files, requiring client certificates when `mutual`."""
    return server_credentials(
        cert_file=pki.server.cert, key_file=pki.server.key, client_ca_file=pki.ca.cert if mutual else None
    )


async def code_of_call(port: int, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    """The status of one ValidateScope call over a fresh channel with the given credentials."""
    target = f"127.0.0.1:{port}"
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    async with channel:
        try:
            await pb_grpc.ContextServiceStub(channel).ValidateScope(REQUEST, timeout=5)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def token_call(service: Service, token: str | None) -> grpc.StatusCode:
    """The status of one ValidateScope call presenting `token` (none when None)."""
    metadata = None if token is None else (("authorization", f"Bearer {token}"),)
    try:
        await service.stub.ValidateScope(REQUEST, metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# TLS


async def test_a_tls_client_trusting_the_ca_is_served(pki: Pki) -> None:
    async with running_service(credentials=tls_credentials(pki, mutual=False)) as service:
        code = await code_of_call(service.server.port, pki.channel_credentials())

    assert code is grpc.StatusCode.OK


@pytest.mark.parametrize("client", ["plaintext", "trusts another CA"])
async def test_a_client_that_cannot_complete_the_tls_handshake_is_unavailable(pki: Pki, client: str) -> None:
    credentials = None if client == "plaintext" else pki.channel_credentials(trust=pki.rogue_ca)
    async with running_service(credentials=tls_credentials(pki, mutual=False)) as service:
        code = await code_of_call(service.server.port, credentials)

    assert code is grpc.StatusCode.UNAVAILABLE


# Mutual TLS


async def test_mutual_tls_serves_a_client_with_a_certificate_from_the_client_ca(pki: Pki) -> None:
    async with running_service(credentials=tls_credentials(pki, mutual=True)) as service:
        code = await code_of_call(service.server.port, pki.channel_credentials(client=pki.client))

    assert code is grpc.StatusCode.OK


@pytest.mark.parametrize("certificate", ["none", "signed by another CA"])
async def test_mutual_tls_refuses_a_client_without_a_trusted_certificate(pki: Pki, certificate: str) -> None:
    client: KeyPair | None = None if certificate == "none" else pki.rogue_client
    async with running_service(credentials=tls_credentials(pki, mutual=True)) as service:
        code = await code_of_call(service.server.port, pki.channel_credentials(client=client))

    assert code is grpc.StatusCode.UNAVAILABLE


def test_an_unreadable_certificate_file_is_a_clear_error_naming_the_variable(
    pki: Pki, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.crt"

    with pytest.raises(SecurityFileError, match="GRPC_TLS_CERT_FILE") as raised:
        server_credentials(cert_file=missing, key_file=pki.server.key)

    assert str(missing) in str(raised.value)


# Bearer tokens


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file with one comment and one accepted token."""
    path = tmp_path / "tokens"
    path.write_text(f"# mounted from a Secret\n{TOKEN}\n", encoding="utf-8")
    return path


@pytest.fixture
async def guarded(token_file: Path) -> AsyncIterator[Service]:
    """A service that requires a bearer token from `token_file`."""
    auth = TokenAuthInterceptor(tokens=TokenFile(path=token_file, recheck_seconds=0))
    async with running_service(interceptors=[auth]) as service:
        yield service


async def test_a_call_with_an_accepted_bearer_token_is_served(guarded: Service) -> None:
    assert await token_call(guarded, TOKEN) is grpc.StatusCode.OK


@pytest.mark.parametrize(
    "token", [None, "", "token-alpha", TOKEN + "x"], ids=["absent", "empty", "prefix", "longer"]
)
async def test_a_call_without_an_accepted_token_is_unauthenticated(
    guarded: Service, token: str | None
) -> None:
    assert await token_call(guarded, token) is grpc.StatusCode.UNAUTHENTICATED


async def test_a_basic_authorization_header_is_not_a_bearer_token(guarded: Service) -> None:
    metadata = (("authorization", f"Basic {TOKEN}"),)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await guarded.stub.ValidateScope(REQUEST, metadata=metadata, timeout=5)

    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_health_answers_without_a_token(guarded: Service) -> None:
    health = health_pb2_grpc.HealthStub(guarded.channel)

    response = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)

    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_answers_without_a_token(guarded: Service) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(guarded.channel)
    stream = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))

    answers = [answer async for answer in stream]

    names = {service.name for service in answers[0].list_services_response.service}
    assert "fleet.context.v1.ContextService" in names


async def test_a_rotated_token_file_takes_effect_without_a_restart(
    guarded: Service, token_file: Path
) -> None:
    replacement = token_file.with_name("tokens.new")
    replacement.write_text(f"{ROTATED}\n", encoding="utf-8")
    replacement.replace(token_file)  # an atomic swap, as a Secret volume update is

    old, new = await token_call(guarded, TOKEN), await token_call(guarded, ROTATED)

    assert (old, new) == (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OK)


async def test_tokens_stay_accepted_while_the_file_is_briefly_missing(
    guarded: Service, token_file: Path
) -> None:
    await asyncio.to_thread(token_file.unlink)

    code = await token_call(guarded, TOKEN)

    assert code is grpc.StatusCode.OK


def test_a_rotated_token_file_is_looked_for_at_most_once_per_recheck_interval(token_file: Path) -> None:
    clock = [100.0]
    tokens = TokenFile(path=token_file, recheck_seconds=1.0, monotonic=lambda: clock[0])
    token_file.write_text(f"{ROTATED}\n", encoding="utf-8")

    clock[0] += 0.5
    within_interval = tokens.accepts(ROTATED)
    clock[0] += 0.6
    after_interval = tokens.accepts(ROTATED)

    assert (within_interval, after_interval) == (False, True)


def test_an_unreadable_token_file_is_a_clear_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SecurityFileError, match="GRPC_AUTH_TOKENS_FILE"):
        TokenFile(path=tmp_path / "absent")
