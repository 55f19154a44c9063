"""A loopback TCP listener that accepts connections, keeps what clients send first, and never answers.

With a server TLS context it completes the TLS handshake first (a client that does not trust its certificate
fails there), then keeps what arrives inside TLS.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from types import TracebackType
from typing import Self

TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a ClientHello
BOLT_MAGIC = bytes.fromhex("6060b017")  # first bytes of a plaintext Bolt handshake
POLL_SECONDS = 0.05


class SilentListener:
    """Context manager: `port` accepts connections (as a hung server would); `first_bytes` is what arrived."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(POLL_SECONDS)  # a blocked accept() would not notice the socket closing
        self.port: int = self._server.getsockname()[1]
        self.first_bytes: list[bytes] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()
        for conn in self._held:
            conn.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self._held.append(conn)
            self.first_bytes.append(self._first(conn))

    def _secured(self, conn: socket.socket) -> socket.socket | None:
        if self._tls is None:
            return conn
        conn.settimeout(5)
        try:
            secured = self._tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return None  # the client refused the certificate (or went away)
        self._held.append(secured)
        return secured

    def _first(self, accepted: socket.socket) -> bytes:
        conn = self._secured(accepted)
        if conn is None:
            return b""
        conn.settimeout(POLL_SECONDS)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                return conn.recv(16)
        return b""
