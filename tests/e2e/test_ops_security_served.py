"""Mutual TLS on `context-service serve` in a process of its own, configured by its environment only: a client
without a certificate from the client CA is refused, one with it is served."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.e2e.test_ops_security import code_of_call
from tests.support.process import serve_process, wait_until_serving
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates made for this module only."""
    return make_pki(tmp_path_factory.mktemp("pki-served"))


@pytest.fixture(scope="module")
async def served(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    """The port of one `context-service serve` (in-memory backend) requiring client certificates."""
    env = {
        **os.environ,
        "GRAPH_BACKEND": "memory",
        "ENABLE_NATS": "false",
        "GRPC_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "LOG_FORMAT": "json",
        "GRPC_TLS_CERT_FILE": str(pki.server.cert),
        "GRPC_TLS_KEY_FILE": str(pki.server.key),
        "GRPC_TLS_CLIENT_CA_FILE": str(pki.ca.cert),
    }
    log_path = tmp_path_factory.mktemp("served-mtls") / "stderr.jsonl"
    with serve_process(env, log_path) as (process, target):
        trusted = pki.channel_credentials(client=pki.client)
        await wait_until_serving(target, process, credentials=trusted, log_path=log_path)
        yield int(target.rpartition(":")[2])
        assert_still_running(process)


def assert_still_running(process: subprocess.Popen[bytes]) -> None:
    """The refused handshakes did not bring the server down."""
    assert process.poll() is None, "the served process exited"


async def test_the_served_process_serves_a_client_with_a_certificate_from_the_client_ca(
    pki: Pki, served: int
) -> None:
    code = await code_of_call(served, pki.channel_credentials(client=pki.client))

    assert code is grpc.StatusCode.OK


@pytest.mark.parametrize("certificate", ["none", "signed by another CA", "plaintext"])
async def test_the_served_process_refuses_a_client_without_a_trusted_certificate(
    pki: Pki, served: int, certificate: str
) -> None:
    credentials = {
        "none": pki.channel_credentials(),
        "signed by another CA": pki.channel_credentials(client=pki.rogue_client),
        "plaintext": None,
    }[certificate]

    code = await code_of_call(served, credentials)

    assert code is grpc.StatusCode.UNAVAILABLE
