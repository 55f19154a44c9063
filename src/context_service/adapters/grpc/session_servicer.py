"""The fleet.context.session.v1 SessionContextService servicer: decode, call one use case, encode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeAlias, TypeVar

import grpc

from context_service.adapters.grpc import session_mappers as m
from context_service.adapters.grpc.admission import DRAINING_MESSAGE
from context_service.adapters.grpc.servicer import request_meta, rpc, stream_rpc
from context_service.application.session_services import SessionUseCases
from context_service.observability.metrics import SESSION_EVENTS_SENT, SESSION_WATCHERS, count_session_readers
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc

Context: TypeAlias = grpc.aio.ServicerContext
T = TypeVar("T")


class SessionServicer(pb_grpc.SessionContextServiceServicer):
    """Thin inbound adapter over the session use cases."""

    def __init__(self, *, use_cases: SessionUseCases, stopping: asyncio.Event | None = None) -> None:
        """`stopping`, once set, ends every Watch with UNAVAILABLE (clients resume on another replica)."""
        self._uc = use_cases
        self._stopping = stopping or asyncio.Event()
        self._open = 0
        self._none_open = asyncio.Event()
        self._none_open.set()
        count_session_readers(lambda: use_cases.watch.readers)

    async def watches_closed(self) -> None:
        """Return once every Watch has ended and released its store read."""
        await self._none_open.wait()

    @rpc
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Context
    ) -> pb.CreateSessionResponse:
        """Create a session or change its options."""
        info, created = await self._uc.create.execute(request.session_id, m.options(request.options))
        return pb.CreateSessionResponse(session=m.session(info), created=created)

    @rpc
    async def GetSession(self, request: pb.GetSessionRequest, context: Context) -> pb.GetSessionResponse:
        """One session's options and counters."""
        return pb.GetSessionResponse(
            session=m.session(await self._uc.get_session.execute(request.session_id))
        )

    @rpc
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        """Sessions by id, paginated."""
        found, token = await self._uc.list_sessions.execute(
            request.prefix, request.page_size, request.page_token
        )
        return pb.ListSessionsResponse(sessions=[m.session(s) for s in found], next_page_token=token)

    @rpc
    async def DropSession(self, request: pb.DropSessionRequest, context: Context) -> pb.DropSessionResponse:
        """Remove a session and every entry."""
        result = await self._uc.drop.execute(request.session_id, request_meta(context))
        return pb.DropSessionResponse(dropped=result.dropped, entries_removed=result.entries_removed)

    @rpc
    async def Put(self, request: pb.PutRequest, context: Context) -> pb.PutResponse:
        """Write one entry."""
        result = await self._uc.put.execute(
            request.session_id, [m.put_item(request)], request_meta(context), batch=False
        )
        return pb.PutResponse(entry=m.entry(result.entries[0]), evicted_keys=list(result.evicted_keys))

    @rpc
    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        """Read one entry."""
        found = await self._uc.get.execute(request.session_id, [request.key])
        return pb.GetResponse(found=True, entry=m.entry(found[0])) if found else pb.GetResponse(found=False)

    @rpc
    async def Has(self, request: pb.HasRequest, context: Context) -> pb.HasResponse:
        """Whether a live entry exists."""
        return pb.HasResponse(found=bool(await self._uc.get.execute(request.session_id, [request.key])))

    @rpc
    async def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.DeleteResponse:
        """Remove one entry."""
        expected = request.expected_version if request.HasField("expected_version") else None
        result = await self._uc.delete.execute(
            request.session_id, request.key, expected, request_meta(context)
        )
        return pb.DeleteResponse(deleted=result.deleted, revision=result.revision)

    @rpc
    async def BatchGet(self, request: pb.BatchGetRequest, context: Context) -> pb.BatchGetResponse:
        """Read several entries."""
        found = await self._uc.get.execute(request.session_id, list(request.keys), "keys")
        return pb.BatchGetResponse(entries=[m.entry(e) for e in found])

    @rpc
    async def BatchPut(self, request: pb.BatchPutRequest, context: Context) -> pb.BatchPutResponse:
        """Write several entries atomically."""
        items = [m.put_item(item) for item in request.items]
        result = await self._uc.put.execute(request.session_id, items, request_meta(context), batch=True)
        return pb.BatchPutResponse(
            entries=[m.entry(e) for e in result.entries],
            revision=result.revision,
            evicted_keys=list(result.evicted_keys),
        )

    @rpc
    async def Find(self, request: pb.FindRequest, context: Context) -> pb.FindResponse:
        """Live entries matching a glob and/or a tag."""
        page, token = await self._uc.find.execute(
            request.session_id, request.pattern, request.tag, request.page_size, request.page_token
        )
        return pb.FindResponse(entries=[m.entry(e) for e in page.entries], next_page_token=token)

    @stream_rpc
    async def Watch(
        self, request: pb.WatchRequest, context: Context
    ) -> AsyncGenerator[pb.WatchResponse, None]:
        """Changes of the matching keys, in revision order."""
        SESSION_WATCHERS.inc()
        self._open += 1
        self._none_open.clear()
        try:
            async for event in _until(self._stopping, self._uc.watch.execute(m.watch_query(request))):
                if event is None:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_MESSAGE)
                    return
                # counted as it is handed to the stream: the client may read it before the write returns here
                SESSION_EVENTS_SENT.labels(event.type.name).inc()
                yield m.watch_response(event)
        finally:
            SESSION_WATCHERS.dec()
            self._open -= 1
            if self._open == 0:
                self._none_open.set()


async def _until(stopping: asyncio.Event, events: AsyncGenerator[T, None]) -> AsyncIterator[T | None]:
    """The events until the stream ends or `stopping` is set (then one None).

    However the call ends (shutdown, client gone), the pending read is cancelled and awaited here, and the
    stream closed, so its store connection goes back to its pool before the pool can close and the watch
    leaves its session's shared reader (also when a store call swallowed the cancel and the read went on).
    """
    stop = asyncio.ensure_future(stopping.wait())
    step: asyncio.Future[T] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(events))
            await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                yield None
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:
        stop.cancel()
        if step is not None and not step.done():
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
        await events.aclose()
