"""The server-streaming wrapper when a client vanishes: the handler's clean-up runs, nothing raises."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import AsyncGenerator

from context_service.adapters.grpc.servicer import stream_rpc
from fleet.context.session.v1 import session_pb2 as pb
from tests.support.fakes import ServicerCall


class Counting:
    """A streaming handler that counts until closed, and remembers being closed."""

    closed = False

    @stream_rpc
    async def Watch(self, request: pb.WatchRequest, context: ServicerCall) -> AsyncGenerator[int, None]:
        try:
            for n in itertools.count():
                yield n
        finally:
            self.closed = True


async def test_a_stream_abandoned_mid_yield_and_closed_in_another_context_runs_its_clean_up() -> None:
    # Arrange
    servicer = Counting()
    stream = servicer.Watch(pb.WatchRequest(session_id="s-1"), ServicerCall())
    assert await anext(stream) == 0

    # Act: the event loop's finalizer closes an abandoned generator in a task with a Context of its own
    await asyncio.create_task(stream.aclose(), context=contextvars.Context())

    # Assert
    assert servicer.closed
