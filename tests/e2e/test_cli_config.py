"""The console entry point: a bad setting stops start-up with one line naming it; migrate is idempotent."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from context_service.adapters.cypher.catalogue import SCHEMA_LABELS
from context_service.local_servers import LocalServer, free_port
from tests.support.sockets import TLS_HANDSHAKE, SilentListener
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.e2e
SETTINGS_PREFIXES = ("GRPC_", "GRAPH_", "NEO4J_", "FALKORDB_", "REDIS_", "VALKEY_", "KV_", "NATS_", "ENABLE_")


def run_cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `context-service` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "context_service", *args],
        env={**base, "LOG_FORMAT": "json", "METRICS_ENABLED": "false", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines the CLI itself printed to stderr (not log lines)."""
    return [line for line in done.stderr.splitlines() if line.startswith("context-service:")]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GRAPH_BACKEND": "neo4j"}, "NEO4J_PASSWORD"),
        ({"GRAPH_BACKEND": "memory", "GRPC_PORT": "abc"}, "GRPC_PORT"),
        ({"GRAPH_BACKEND": "memory", "GRPC_PORT": "70000"}, "GRPC_PORT"),
        ({"GRAPH_BACKEND": "bogus"}, "GRAPH_BACKEND"),
        ({"GRAPH_BACKEND": "memory", "KV_BACKEND": "etcd"}, "KV_BACKEND"),
        (
            {"GRAPH_BACKEND": "memory", "PROMPT_SCOPES_PATH": "/nonexistent/policy.yaml"},
            "/nonexistent/policy.yaml",
        ),
        ({"GRAPH_BACKEND": "neo4j", "NEO4J_PASSWORD_FILE": "/nonexistent/secret"}, "NEO4J_PASSWORD_FILE"),
        ({"GRAPH_BACKEND": "memory", "GRPC_TLS_CERT_FILE": "/tmp/cert.pem"}, "GRPC_TLS_KEY_FILE"),
        ({"GRAPH_BACKEND": "memory", "VALKEY_CLUSTER": "true", "REDIS_DB": "3"}, "VALKEY_CLUSTER"),
        ({"GRAPH_BACKEND": "memory", "VALKEY_CLUSTER": "maybe"}, "VALKEY_CLUSTER"),
        ({"GRAPH_BACKEND": "memory", "VALKEY_WAIT_TIMEOUT_MS": "0"}, "VALKEY_WAIT_TIMEOUT_MS"),
        ({"GRAPH_BACKEND": "memory", "KV_KEY_PREFIX": "env:{a}:"}, "KV_KEY_PREFIX"),
        ({"GRAPH_BACKEND": "memory", "WORKERS": "2"}, "WORKERS=2: several workers need stores they share"),
        ({"GRAPH_BACKEND": "falkordb", "KV_BACKEND": "sqlite", "WORKERS": "3"}, "KV_BACKEND valkey"),
        ({"GRAPH_BACKEND": "memory", "WORKERS": "0"}, "WORKERS"),
    ],
    ids=[
        "neo4j-without-password",
        "port-not-a-number",
        "port-out-of-range",
        "unknown-graph-backend",
        "unknown-kv-backend",
        "unreadable-policy",
        "unreadable-password-file",
        "tls-cert-without-key",
        "cluster-with-a-database-number",
        "cluster-not-a-boolean",
        "wait-timeout-zero",
        "hash-tag-in-the-kv-prefix",
        "workers-on-an-in-memory-graph",
        "workers-on-sqlite-keys",
        "no-workers",
    ],
)
def test_bad_configuration_exits_with_one_line_naming_the_problem(env: dict[str, str], named: str) -> None:
    done = run_cli("serve", "--demo", **env)

    assert done.returncode == 2
    assert len(error_lines(done)) == 1
    assert named in error_lines(done)[0]


def test_a_graph_store_that_never_comes_up_stops_start_up_after_the_retry_bound() -> None:
    unused = free_port()

    done = run_cli(
        "serve",
        GRAPH_BACKEND="falkordb",
        FALKORDB_URL=f"redis://127.0.0.1:{unused}",
        STORE_STARTUP_RETRY_SECONDS="0.5",
        STORE_TIMEOUT_SECONDS="0.5",
    )

    assert done.returncode == 2
    assert len(error_lines(done)) == 1
    assert "graph store (falkordb) is unreachable after 0.5s" in error_lines(done)[0]


async def test_migrate_creates_the_schema_and_can_run_again(falkordb: LocalServer) -> None:
    graph = f"migrate-{uuid.uuid4().hex}"
    env = {"GRAPH_BACKEND": "falkordb", "FALKORDB_URL": falkordb.url, "FALKORDB_GRAPH": graph}

    first = await asyncio.to_thread(run_cli, "migrate", **env)
    second = await asyncio.to_thread(run_cli, "migrate", **env)

    assert (first.returncode, second.returncode) == (0, 0)
    indexed = await _indexed_labels(falkordb, graph)
    assert indexed == set(SCHEMA_LABELS)


async def _indexed_labels(server: LocalServer, graph: str) -> set[str]:
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        rows = await client.execute_command("GRAPH.RO_QUERY", graph, "CALL db.indexes()")
        await client.execute_command("GRAPH.DELETE", graph)
    finally:
        await client.aclose()
    return {row[0] for row in rows[1]}


def test_the_scope_policy_path_in_the_error_is_the_one_configured(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("phases: [not, a, mapping]\n", encoding="utf-8")

    done = run_cli("serve", GRAPH_BACKEND="memory", PROMPT_SCOPES_PATH=str(broken))

    assert done.returncode == 2
    assert len(error_lines(done)) == 1
    assert str(broken) in error_lines(done)[0]


NEO4J = {"GRAPH_BACKEND": "neo4j", "NEO4J_PASSWORD": "secret"}
GIVE_UP_QUICKLY = {"STORE_STARTUP_RETRY_SECONDS": "1", "STORE_TIMEOUT_SECONDS": "0.4"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA for the Neo4j TLS settings."""
    return make_pki(tmp_path_factory.mktemp("cli-pki"))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NEO4J_URI": "http://db:7474"}, "NEO4J_URI"),
        ({"NEO4J_URI": "bolt://"}, "NEO4J_URI"),
        ({"NEO4J_URI": "bolt://db:99999"}, "NEO4J_URI"),
        ({"NEO4J_TRUSTED_CA_FILE": "/nonexistent/ca.pem"}, "NEO4J_TRUSTED_CA_FILE"),
        ({"NEO4J_TRUSTED_CA_FILE": __file__}, "NEO4J_TRUSTED_CA_FILE"),
        ({"NEO4J_DATABASE": ""}, "NEO4J_DATABASE"),
        ({"NEO4J_USER": ""}, "NEO4J_USER"),
        ({"NEO4J_MAX_POOL_SIZE": "0"}, "NEO4J_MAX_POOL_SIZE"),
    ],
    ids=[
        "http-scheme",
        "no-host",
        "port-out-of-range",
        "missing-ca",
        "ca-not-pem",
        "no-db",
        "no-user",
        "no-pool",
    ],
)
def test_a_bad_neo4j_setting_exits_2_with_one_line_naming_it(env: dict[str, str], named: str) -> None:
    done = run_cli("serve", **NEO4J, **env)

    assert (done.returncode, len(error_lines(done)), "Traceback" in done.stderr) == (2, 1, False)
    assert named in error_lines(done)[0]


def test_a_ca_file_with_a_scheme_that_trusts_any_certificate_exits_2_with_one_line(pki: Pki) -> None:
    done = run_cli("serve", **NEO4J, NEO4J_URI="neo4j+ssc://db:7687", NEO4J_TRUSTED_CA_FILE=str(pki.ca.cert))

    assert (done.returncode, len(error_lines(done))) == (2, 1)
    assert "NEO4J_TRUSTED_CA_FILE" in error_lines(done)[0]


def test_serve_on_a_tls_routing_uri_with_a_ca_file_retries_then_fails_with_one_line(pki: Pki) -> None:
    uri = f"neo4j+s://localhost:{free_port()}"

    done = run_cli("serve", **NEO4J, **GIVE_UP_QUICKLY, NEO4J_URI=uri, NEO4J_TRUSTED_CA_FILE=str(pki.ca.cert))

    assert (done.returncode, len(error_lines(done)), "Traceback" in done.stderr) == (2, 1, False)
    assert "graph store (neo4j) is unreachable after 1s" in error_lines(done)[0]
    assert "store_not_ready" in done.stdout + done.stderr


def test_serve_on_a_plain_bolt_uri_with_a_ca_file_opens_with_a_tls_handshake(pki: Pki) -> None:
    with SilentListener() as listener:
        uri = f"bolt://localhost:{listener.port}"

        done = run_cli(
            "serve", **NEO4J, **GIVE_UP_QUICKLY, NEO4J_URI=uri, NEO4J_TRUSTED_CA_FILE=str(pki.ca.cert)
        )

    assert (done.returncode, len(error_lines(done))) == (2, 1)
    assert {first[:1] for first in listener.first_bytes} == {bytes([TLS_HANDSHAKE])}


def test_serve_against_a_certificate_the_ca_file_does_not_sign_stops_at_once_without_retrying(
    pki: Pki,
) -> None:
    presented = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    presented.load_cert_chain(pki.server.cert, pki.server.key)
    with SilentListener(tls=presented) as listener:
        uri = f"neo4j+s://localhost:{listener.port}"
        started = time.monotonic()

        done = run_cli(
            "serve",
            **NEO4J,
            NEO4J_URI=uri,
            NEO4J_TRUSTED_CA_FILE=str(pki.rogue_ca.cert),
            STORE_STARTUP_RETRY_SECONDS="60",
        )

    assert (done.returncode, len(error_lines(done)), time.monotonic() - started < 30) == (2, 1, True)
    assert "NEO4J_TRUSTED_CA_FILE" in error_lines(done)[0]
    assert "store_not_ready" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("GRPC_PORT", "cannot bind the gRPC port 127.0.0.1:{port}"),
        ("METRICS_PORT", "metrics port 127.0.0.1:{port}"),
    ],
    ids=["grpc-port", "metrics-port"],
)
def test_a_port_another_program_holds_stops_start_up_with_one_line(variable: str, named: str) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        ports = {"GRPC_PORT": "0", "METRICS_PORT": "0", variable: str(port)}
        done = run_cli(
            "serve",
            GRAPH_BACKEND="memory",
            ENABLE_NATS="false",
            GRPC_HOST="127.0.0.1",
            METRICS_HOST="127.0.0.1",
            METRICS_ENABLED="true",
            **ports,
        )

    assert done.returncode == 2
    assert len(error_lines(done)) == 1
    assert named.format(port=port) in error_lines(done)[0]
    assert "Traceback" not in done.stderr
