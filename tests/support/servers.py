"""Real servers for integration tests: started once per test session on free loopback ports."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from context_service.local_cluster import LocalCluster
from context_service.local_cluster import valkey_cluster as valkey_cluster_of
from context_service.local_servers import (
    LocalServer,
    ServerError,
    falkordb_server,
    nats_server,
    valkey_server,
)


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a cancelled job, `timeout`) unwinds the run like Ctrl-C, so the servers started here stop:
    they run in sessions of their own, out of reach of a signal sent to the run's process group."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def start_or_fail(server: LocalServer) -> LocalServer:
    """Start a server; a missing binary is a failed set-up, never a silent skip."""
    try:
        return server.start()
    except ServerError as exc:
        pytest.fail(f"cannot start {server.name}: {exc}")


@contextmanager
def stopped(server: LocalServer, resume_after: float | None = None) -> Iterator[None]:
    """The server paused (`LocalServer.pause`) for the block, or only for `resume_after` seconds of the
    running event loop; resumed at the end of the block either way."""
    server.pause()
    resume = None
    if resume_after is not None:
        resume = asyncio.get_running_loop().call_later(resume_after, server.resume)
    try:
        yield
    finally:
        if resume is not None:
            resume.cancel()
        server.resume()


def docker_available() -> tuple[bool, str]:
    """Whether a Docker engine answers (testcontainers needs one), with the reason when not."""
    if shutil.which("docker") is None:
        return False, "no docker client on PATH"
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker info failed: {exc}"
    if done.returncode != 0:
        return False, "no Docker engine is running (docker info failed)"
    return True, ""


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One valkey-server for the whole session; isolate tests by key prefix."""
    server = start_or_fail(valkey_server(tmp_path_factory.mktemp("valkey")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-primary/3-replica Valkey Cluster for the whole session; isolate tests by key prefix / ids."""
    cluster = valkey_cluster_of(tmp_path_factory.mktemp("valkey-cluster"))
    try:
        cluster.start()
    except ServerError as exc:
        pytest.fail(f"cannot start the valkey cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def falkordb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One FalkorDB for the whole session; isolate tests by graph name."""
    server = start_or_fail(falkordb_server(tmp_path_factory.mktemp("falkordb")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One nats-server with JetStream for the whole session; isolate tests by stream/subject names."""
    server = start_or_fail(nats_server(tmp_path_factory.mktemp("nats")))
    yield server
    server.stop()


NEO4J_IMAGE = "neo4j:5"


@dataclass(frozen=True)
class Neo4jAddress:
    """How to reach the session's Neo4j container."""

    uri: str
    password: str


@pytest.fixture(scope="session")
def neo4j_container() -> Iterator[Neo4jAddress]:
    """One Neo4j 5 container for the session, or a skip naming why Docker is unusable."""
    available, reason = docker_available()
    if not available:
        pytest.skip(f"Neo4j tests need a Docker engine for testcontainers: {reason}")
    # The community path: the top-level `testcontainers.neo4j` alias warns (and warnings are errors here).
    from testcontainers.community.neo4j import Neo4jContainer

    with Neo4jContainer(NEO4J_IMAGE) as container:
        yield Neo4jAddress(container.get_connection_url(), container.password)
