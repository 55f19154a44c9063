"""Local servers on a port chosen free: one taken before the server binds it is replaced by another.

Between choosing a free port and the server binding it, another process may take it (the test suite and the
dev stack start many servers and clients). A server whose port was chosen here moves to a new one on its
first start; one given an explicit port, or one that has already served, keeps its port. Ports handed out
one after another never repeat.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from context_service.local_servers import (
    LOOPBACK,
    LocalServer,
    ServerError,
    free_port,
    nats_server,
    valkey_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another process holds (here: a listening socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _chose(server: LocalServer, port: int) -> LocalServer:
    """As if `port` had been free when the server chose it."""
    assert server.rebind is not None
    server.port, server.argv = port, server.rebind(port)
    return server


@pytest.mark.parametrize("make", [valkey_server, nats_server], ids=["valkey", "nats"])
def test_a_port_chosen_free_but_taken_before_the_start_is_replaced_by_another(
    tmp_path: Path, taken: int, make: Callable[[Path], LocalServer]
) -> None:
    # Arrange
    server = _chose(make(tmp_path), taken)

    # Act
    with server:
        # Assert: serving on another port, which now stays across a restart
        assert server.running
        assert server.port != taken
        moved = server.port
        server.stop()
        server.start()
        assert server.port == moved
        with socket.create_connection((LOOPBACK, moved), timeout=2):
            pass


def test_an_explicit_port_that_is_taken_fails_the_start(tmp_path: Path, taken: int) -> None:
    server = valkey_server(tmp_path, taken)

    with pytest.raises(ServerError, match="exited"):
        server.start()

    assert server.port == taken


def test_a_server_that_served_keeps_its_port_when_it_is_taken_meanwhile(tmp_path: Path) -> None:
    # Arrange: a server that has served, stopped, and its port then taken by another process
    server = valkey_server(tmp_path)
    server.start()
    port = server.port
    server.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, port))
        holder.listen()

        # Act / Assert: its clients know this port; moving would strand them
        with pytest.raises(ServerError, match="exited"):
            server.start()
    assert server.port == port


def test_free_ports_handed_out_in_a_row_are_all_different() -> None:
    # The kernel may give one free port to several binds in a row (25 to 45 repeats in 1,024 here); two
    # servers of one stack on one port would both seem to answer, the second's probe reaching the first.
    ports = [free_port() for _ in range(1024)]

    assert len(set(ports)) == len(ports)
