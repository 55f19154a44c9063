"""Loopback sockets that misbehave on purpose.

`SilentListener` accepts connections, keeps what clients send first, and never answers. With a server TLS
context it completes the TLS handshake first (a client that does not trust its certificate fails there), then
keeps what arrives inside TLS. `CuttingProxy` passes a server's traffic through and, once armed, loses one
answer with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
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


class CuttingProxy:
    """A loopback TCP proxy to `port` that, once armed, swallows the server's answer to the first bytes a
    client sends matching `pattern` and closes that connection: the command ran, its client never hears so.

    The swallowed answers are kept in `cut`. Use inside the event loop (`async with`).
    """

    def __init__(self, port: int, pattern: re.Pattern[bytes]) -> None:
        self._upstream = port
        self._pattern = pattern
        self._armed = False
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self.port = 0
        self.cut: list[bytes] = []

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        relays = list(self._relays)
        for relay in relays:
            relay.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    def arm(self) -> None:
        """Cut the next connection that sends matching bytes, once its answer arrives."""
        self._armed = True

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        try:
            await self._pass(client, to_client)
        finally:
            self._relays.discard(relay)
            to_client.close()

    async def _pass(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection("127.0.0.1", self._upstream)
        cutting = asyncio.Event()

        async def up() -> None:
            while data := await client.read(65536):
                if self._armed and self._pattern.search(data):
                    self._armed = False
                    cutting.set()
                to_server.write(data)
                await to_server.drain()

        async def down() -> None:
            while data := await server.read(65536):
                if cutting.is_set():
                    self.cut.append(data)
                    return
                to_client.write(data)
                await to_client.drain()

        pumps = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:  # closed before anything is awaited: a cancellation may come at any await from here
            to_server.close()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
