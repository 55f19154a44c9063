"""The port a supervisor of `serve --workers N` holds for its workers."""

from __future__ import annotations

import re
import socket

import pytest

from context_service.binding import PortTaken
from context_service.workers import reserve_port


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "::1"])
def test_port_zero_reserves_a_port_the_workers_can_bind_beside_it(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = host.strip("[]") if ":" in host else "127.0.0.1"
    with reserve_port(host, 0) as port, socket.socket(family, socket.SOCK_STREAM) as worker:
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind((address, port))
        worker.listen()
        worker.settimeout(5)
        with socket.create_connection((address, port), timeout=5):
            accepted, _ = worker.accept()  # it landed on the listening worker, not on the held socket
            accepted.close()
    assert port > 0


def test_a_port_another_program_listens_on_is_refused_with_its_address() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        expected = re.escape(f"cannot bind the gRPC port 127.0.0.1:{port}: Address already in use")
        with pytest.raises(PortTaken, match=expected), reserve_port("127.0.0.1", port):
            pass


def test_a_host_that_does_not_resolve_is_refused() -> None:
    expected = re.escape("cannot bind the gRPC port no-such-host.invalid:50054")
    with pytest.raises(PortTaken, match=expected), reserve_port("no-such-host.invalid", 50054):
        pass
