"""The consumers of one runtime, started and stopped together."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import structlog

from context_service.adapters.nats.consumers import Consumer

log = structlog.get_logger()


class ConsumerGroup:
    """Every consumer of one runtime: started together, stopped together after their in-flight messages."""

    def __init__(self, consumers: list[Consumer]) -> None:
        self.consumers = consumers

    async def __aenter__(self) -> Self:
        """Bind them all, then let them fetch; if one cannot bind, stop the others and raise."""
        results = await asyncio.gather(*(c.start() for c in self.consumers), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.__aexit__(None, None, None)
            raise failed[0]
        log.info("nats_consumers_started", count=len(self.consumers))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop them all (each finishes the batch in hand)."""
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers))
