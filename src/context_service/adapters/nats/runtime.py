"""Messaging for one service instance: connection, streams, relay, advisories, consumers; stopped in reverse.

The publisher is built first (the use cases take it) and only records into the outbox until a connection is
attached here; the consumers start last, once the use cases they call are wired.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from context_service.adapters.nats.advisories import ExhaustedDeliveries
from context_service.adapters.nats.connection import NatsConnection
from context_service.adapters.nats.consumer_group import ConsumerGroup
from context_service.adapters.nats.consumers import AfterEffect, Consumer
from context_service.adapters.nats.handlers import Route, build_routes
from context_service.adapters.nats.publisher import OutboxPublisher, OutboxRelay
from context_service.adapters.nats.settle import ConsumerSettings
from context_service.adapters.nats.streams import ensure_streams
from context_service.application.services import UseCases
from context_service.config import NatsSettings
from context_service.ports.health import HealthProbe
from context_service.ports.kv import KeyValueStore


class Messaging:
    """Async context manager owning the NATS side of the service."""

    def __init__(
        self,
        *,
        settings: NatsSettings,
        use_cases: UseCases,
        kv: KeyValueStore,
        publisher: OutboxPublisher,
        consumer_settings: ConsumerSettings | None = None,
        startup_timeout: float = 30.0,
        reconnect_wait: float = 2.0,
        relay_interval: float = 5.0,
        start_consumers: bool = True,
        after_effect: AfterEffect | None = None,
    ) -> None:
        """`start_consumers=False`: the caller enters `consumer_group()` itself (e.g. after gRPC starts)."""
        self.connection = NatsConnection(
            settings=settings, startup_timeout=startup_timeout, reconnect_wait=reconnect_wait
        )
        self.publisher = publisher
        self.stream_differences: list[str] = []
        self._consumer_settings = consumer_settings or ConsumerSettings.from_settings(settings)
        self._routes = build_routes(use_cases)
        self._kv = kv
        self._relay_interval = relay_interval
        self._after_effect = after_effect
        self._start_consumers = start_consumers
        self._stack = AsyncExitStack()

    @property
    def probe(self) -> HealthProbe:
        """The health probe of the broker (name "nats")."""
        return self.connection

    async def __aenter__(self) -> Self:
        """Connect (bounded retries), ensure streams, start the relay, then the consumers."""
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.connection)
            self.stream_differences = await ensure_streams(self.connection.jetstream)
            self.publisher.attach(self.connection)
            stack.callback(self.publisher.attach, None)
            relay = OutboxRelay(publisher=self.publisher, interval=self._relay_interval)
            self.connection.on_reconnect(relay.wake)
            await stack.enter_async_context(relay)
            durables = [route.durable for route in self._routes]
            await stack.enter_async_context(
                ExhaustedDeliveries(connection=self.connection, publisher=self.publisher, durables=durables)
            )
            if self._start_consumers:
                await stack.enter_async_context(self.consumer_group())
            self._stack = stack.pop_all()
        return self

    def consumer_group(self) -> ConsumerGroup:
        """One durable pull consumer per inbound subject, as an async context manager (enter once)."""
        return ConsumerGroup([self._consumer(route) for route in self._routes])

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop consumers after their in-flight messages, flush the outbox once more, drain the connection."""
        await self._stack.aclose()

    def _consumer(self, route: Route) -> Consumer:
        return Consumer(
            route=route,
            connection=self.connection,
            kv=self._kv,
            publisher=self.publisher,
            settings=self._consumer_settings,
            after_effect=self._after_effect,
        )
