"""A typed async client of fleet.context.session.v1: plain Python values in and out, no protobuf needed.

    async with SessionClient("localhost:50054", "US-101:run-7", source="mind:tim") as session:
        await session.set("analysis:mind:tim", {"verdict": "ok"}, ttl=600, tags=["mind"])
        async for event in session.subscribe("checkpoint:*"):
            ...

`subscribe` resumes by itself after a lost connection (from the last revision it delivered) and, when the
server no longer holds that far back, re-reads the matching entries as `initial` events and goes on.

A write given an `idempotency_key` may be sent again (after a timeout, a lost connection) without being made
twice: the same key and write get the first answer; the same key with another write raises the gRPC error
ABORTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import grpc

from context_service.client.session_values import (
    SessionEntry,
    SessionEvent,
    VersionMismatch,
    entry_of,
    event_of,
)
from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc

# Codes after which a watch is re-opened: the connection or the server went away, not the request.
_RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)
_PAGE = 1_000
__all__ = ["SessionClient", "SessionEntry", "SessionEvent", "VersionMismatch"]


def _ttl_ms(ttl: float | None) -> int | None:
    return None if ttl is None else round(ttl * 1000)


@contextlib.contextmanager
def _version_checked() -> Iterator[None]:
    """A lost compare-and-set (ABORTED) raised as VersionMismatch; other errors (an idempotency key used
    for another write is ABORTED too) as they are."""
    try:
        yield
    except grpc.aio.AioRpcError as err:
        if err.code() is grpc.StatusCode.ABORTED and "idempotency-key" not in (err.details() or ""):
            raise VersionMismatch(err.details()) from None
        raise


class SessionClient:
    """One session of a running service; an async context manager owning its channel."""

    def __init__(
        self,
        target: str,
        session_id: str,
        *,
        source: str = "",
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        reconnect_delay: float = 0.2,
    ) -> None:
        """`target` host:port; `source` names the writer on every entry; `token` a bearer token."""
        self.session_id = session_id
        self._target = target
        self._source = source
        self._credentials = credentials
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._reconnect_delay = reconnect_delay
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.SessionContextServiceStub | None = None

    async def __aenter__(self) -> Self:
        """Open the channel."""
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self._target)
        else:
            self._channel = grpc.aio.secure_channel(self._target, self._credentials)
        self._stub = pb_grpc.SessionContextServiceStub(self._channel)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    @property
    def _rpc(self) -> pb_grpc.SessionContextServiceStub:
        if self._stub is None:
            raise RuntimeError("use the client inside `async with`")
        return self._stub

    def _call(self, idempotency_key: str | None = None) -> dict[str, Any]:
        metadata = self._metadata
        if idempotency_key:
            metadata = (*metadata, ("idempotency-key", idempotency_key))
        return {"timeout": self._timeout, "metadata": metadata}

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of a live entry, or `default`."""
        entry = await self.get_entry(key)
        return default if entry is None else entry.value

    async def get_entry(self, key: str) -> SessionEntry | None:
        """The live entry with its version, or None."""
        reply = await self._rpc.Get(pb.GetRequest(session_id=self.session_id, key=key), **self._call())
        return entry_of(reply.entry) if reply.found else None

    async def has(self, key: str) -> bool:
        """Whether a live entry exists."""
        return bool(
            (await self._rpc.Has(pb.HasRequest(session_id=self.session_id, key=key), **self._call())).found
        )

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | None = None,
        source: str | None = None,
        tags: Iterable[str] = (),
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> SessionEntry:
        """Write a JSON value; `ttl` in seconds (None = session default, 0 = never).

        Raises VersionMismatch when `expected_version` is given and the entry is at another.
        """
        request = pb.PutRequest(
            session_id=self.session_id,
            key=key,
            value_json=json.dumps(value),
            ttl_ms=_ttl_ms(ttl),
            source=self._source if source is None else source,
            tags=list(tags),
            expected_version=expected_version,
        )
        with _version_checked():
            reply = await self._rpc.Put(request, **self._call(idempotency_key))
        return entry_of(reply.entry)

    async def delete(
        self, key: str, *, expected_version: int | None = None, idempotency_key: str | None = None
    ) -> bool:
        """Remove an entry; False when there was none; VersionMismatch if the CAS loses."""
        request = pb.DeleteRequest(session_id=self.session_id, key=key, expected_version=expected_version)
        with _version_checked():
            reply = await self._rpc.Delete(request, **self._call(idempotency_key))
        return bool(reply.deleted)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values of the live entries among `keys`."""
        reply = await self._rpc.BatchGet(
            pb.BatchGetRequest(session_id=self.session_id, keys=list(keys)), **self._call()
        )
        return {e.key: json.loads(e.value_json) for e in reply.entries}

    async def set_many(
        self,
        values: Mapping[str, Any],
        *,
        ttl: float | None = None,
        source: str | None = None,
        tags: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> int:
        """Write several values atomically, all at one revision (returned)."""
        writer, labels, ttl_ms = self._source if source is None else source, list(tags), _ttl_ms(ttl)
        items = [
            pb.PutItem(key=k, value_json=json.dumps(v), ttl_ms=ttl_ms, source=writer, tags=labels)
            for k, v in values.items()
        ]
        reply = await self._rpc.BatchPut(
            pb.BatchPutRequest(session_id=self.session_id, items=items), **self._call(idempotency_key)
        )
        return int(reply.revision)

    async def find_by_pattern(self, pattern: str) -> dict[str, Any]:
        """Every live entry whose key matches the glob (`*`, `?`), by key."""
        return {e.key: e.value for e in await self._find(pattern, "")}

    async def find_by_tag(self, tag: str, pattern: str = "") -> dict[str, Any]:
        """Every live entry carrying the tag (and matching `pattern` when given), by key."""
        return {e.key: e.value for e in await self._find(pattern, tag)}

    async def _find(self, pattern: str, tag: str) -> list[SessionEntry]:
        found: list[SessionEntry] = []
        token = ""
        while True:
            request = pb.FindRequest(
                session_id=self.session_id, pattern=pattern, tag=tag, page_size=_PAGE, page_token=token
            )
            reply = await self._rpc.Find(request, **self._call())
            found += [entry_of(e) for e in reply.entries]
            token = reply.next_page_token
            if not token:
                return found

    async def drop(self, *, idempotency_key: str | None = None) -> int:
        """Remove the session and every entry in it; the number of live entries removed."""
        request = pb.DropSessionRequest(session_id=self.session_id)
        reply = await self._rpc.DropSession(request, **self._call(idempotency_key))
        return int(reply.entries_removed)

    async def sessions(self, prefix: str = "") -> list[str]:
        """The ids of every session whose id starts with `prefix`, in order."""
        ids: list[str] = []
        token = ""
        while True:
            request = pb.ListSessionsRequest(prefix=prefix, page_size=_PAGE, page_token=token)
            reply = await self._rpc.ListSessions(request, **self._call())
            ids += [s.session_id for s in reply.sessions]
            token = reply.next_page_token
            if not token:
                return ids

    async def subscribe(
        self, pattern: str = "", *, include_initial: bool = False, previous: bool = False
    ) -> AsyncIterator[SessionEvent]:
        """Changes of the keys matching `pattern`, in revision order, resuming by itself after a reconnect."""
        after = 0 if include_initial else await self._current_revision()
        initial = include_initial
        while True:
            request = pb.WatchRequest(
                session_id=self.session_id,
                pattern=pattern,
                after_revision=after,
                include_initial=initial,
                include_prev_value=previous,
            )
            try:
                async for message in self._rpc.Watch(request, metadata=self._metadata):
                    after = max(after, message.revision)
                    if message.type == pb.EVENT_TYPE_PROGRESS:
                        continue
                    event = event_of(message)
                    yield event
                    if event.type == "SESSION_DROPPED":
                        return
                initial = False
            except grpc.aio.AioRpcError as err:
                initial = err.code() is grpc.StatusCode.OUT_OF_RANGE
                if not initial and err.code() not in _RESUMABLE:
                    raise
                await asyncio.sleep(self._reconnect_delay)

    async def _current_revision(self) -> int:
        """Where a watch "from now" starts, so that a resume never skips what came in between."""
        try:
            reply = await self._rpc.GetSession(
                pb.GetSessionRequest(session_id=self.session_id), **self._call()
            )
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.NOT_FOUND:
                return 0
            raise
        return int(reply.session.revision)
