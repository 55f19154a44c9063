"""The process's NATS connection: bounded start-up retries, endless reconnects, drain on exit, health."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import nats.errors
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from context_service.config import NatsSettings
from context_service.ports.errors import StoreTimeout, StoreUnavailable

log = structlog.get_logger()
BACKEND = "nats"


@contextlib.contextmanager
def translated(operation: str) -> Iterator[None]:
    """Turn nats-py and socket failures into the port errors (the one place this happens)."""
    try:
        yield
    except TimeoutError as exc:  # nats.errors.TimeoutError is one too
        raise StoreTimeout(f"nats {operation} timed out", backend=BACKEND, operation=operation) from exc
    except (nats.errors.Error, OSError) as exc:
        message = f"nats {operation} failed: {type(exc).__name__}"
        raise StoreUnavailable(message, backend=BACKEND, operation=operation) from exc


class NatsConnection:
    """Connects on enter (retrying up to `startup_timeout`), reconnects forever, drains on exit."""

    def __init__(
        self,
        *,
        settings: NatsSettings,
        startup_timeout: float = 30.0,
        reconnect_wait: float = 2.0,
        connect_timeout: float = 2.0,
        drain_timeout: float = 10.0,
        ping_timeout: float = 2.0,
        client_name: str = "context-service",
    ) -> None:
        self._settings = settings
        self._startup_timeout = startup_timeout
        self._reconnect_wait = reconnect_wait
        self._connect_timeout = connect_timeout
        self._drain_timeout = drain_timeout
        self._ping_timeout = ping_timeout
        self._client_name = client_name
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._listeners: list[Callable[[], None]] = []
        self._outage_reported = False

    @property
    def name(self) -> str:
        """Health service name suffix."""
        return BACKEND

    @property
    def connected(self) -> bool:
        """True while the client holds a live connection to a server."""
        return self._client is not None and bool(self._client.is_connected)

    @property
    def client(self) -> Client:
        """The nats-py client (only inside the context)."""
        if self._client is None:
            raise StoreUnavailable("nats connection is not open", backend=BACKEND, operation="client")
        return self._client

    @property
    def jetstream(self) -> JetStreamContext:
        """The JetStream context of this connection."""
        if self._jetstream is None:
            self._jetstream = self.client.jetstream()
        return self._jetstream

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every reconnection (e.g. to flush an outbox at once)."""
        self._listeners.append(listener)

    async def __aenter__(self) -> Self:
        """Connect, retrying while the server is down; after `startup_timeout`, StoreUnavailable."""
        client = Client()
        try:
            async with asyncio.timeout(self._startup_timeout):
                await client.connect(**self._options())
        except TimeoutError:
            await _close_quietly(client)
            raise StoreUnavailable(
                f"NATS at {self._settings.url} did not answer within {self._startup_timeout:g}s",
                backend=BACKEND,
                operation="connect",
            ) from None
        except (nats.errors.Error, OSError) as exc:
            await _close_quietly(client)
            raise StoreUnavailable(
                f"cannot connect to NATS at {self._settings.url}: {type(exc).__name__}",
                backend=BACKEND,
                operation="connect",
            ) from exc
        self._client = client
        self._outage_reported = False
        log.info("nats_connected", url=self._settings.url)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Drain (deliver what is buffered, then close); close at once if draining fails."""
        client, self._client, self._jetstream = self._client, None, None
        if client is None:
            return
        try:
            if client.is_connected:
                async with asyncio.timeout(self._drain_timeout):
                    await client.drain()
        except (TimeoutError, nats.errors.Error, OSError) as error:
            log.warning("nats_drain_failed", error=type(error).__name__)
        finally:
            await _close_quietly(client)
        log.info("nats_closed")

    async def ping(self) -> None:
        """A round trip to the server, or StoreUnavailable / StoreTimeout."""
        if not self.connected:
            raise StoreUnavailable("nats is not connected", backend=BACKEND, operation="ping")
        with translated("ping"):
            await self.client.flush(timeout=max(1, round(self._ping_timeout)))

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str], *, ack_timeout: float = 2.0
    ) -> None:
        """Publish into a stream and wait for JetStream's acknowledgement."""
        if not self.connected:
            raise StoreUnavailable("nats is not connected", backend=BACKEND, operation="publish")
        with translated("publish"):
            await self.jetstream.publish(subject, data, timeout=ack_timeout, headers=dict(headers))

    async def publish_core(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Fire-and-forget core publish (for reply inboxes, which no stream captures)."""
        with translated("publish_core"):
            await self.client.publish(subject, data, headers=dict(headers))

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "servers": [self._settings.url],
            "name": self._client_name,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": self._reconnect_wait,
            "connect_timeout": self._connect_timeout,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        if self._settings.creds_file is not None:
            options["user_credentials"] = str(self._settings.creds_file)
        if self._settings.tls_ca_file is not None:
            options["tls"] = ssl.create_default_context(cafile=str(self._settings.tls_ca_file))
        return options

    async def _on_error(self, error: Exception) -> None:
        # Every failed reconnect attempt lands here: warn once per outage, the rest at debug level.
        level = log.debug if self._outage_reported else log.warning
        self._outage_reported = True
        level("nats_error", error=type(error).__name__)

    async def _on_disconnected(self) -> None:
        log.warning("nats_disconnected", url=self._settings.url)

    async def _on_reconnected(self) -> None:
        self._outage_reported = False
        log.info("nats_reconnected", url=self._settings.url)
        for listener in self._listeners:
            listener()


async def _close_quietly(client: Client) -> None:
    with contextlib.suppress(nats.errors.Error, OSError, asyncio.TimeoutError):
        await client.close()
