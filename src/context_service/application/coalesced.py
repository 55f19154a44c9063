"""Reads shared by concurrent calls without ever answering a call from a read older than the call.

Under load many calls ask the same question at once (the freshness check of one story's cached context,
one session key). Each call must see every write acknowledged before it arrived, so a call may share a read
only if that read was sent after the call arrived. Per key, one read is in flight; calls that arrive while it
runs wait for the next one, which is sent as soon as the first returns and answers all of them. A lone
call sends its read at once, as without sharing; under load, one read answers every call that arrived during
the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescedReads(Generic[K, V]):
    """`read(key)` shared by the calls that arrived before it was sent; at most one in flight per key."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._running: dict[K, asyncio.Future[V]] = {}  # sent: too old for calls arriving now
        self._next: dict[K, asyncio.Future[V]] = {}  # not sent yet: a call arriving now may join it

    async def get(self, key: K) -> V:
        """The value of a read sent after this call arrived (shared with others that arrived before it)."""
        waiting = self._next.get(key)
        if waiting is None:
            if key not in self._running:
                return await asyncio.shield(self._send(key))
            waiting = self._next[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiting)

    def _send(self, key: K) -> asyncio.Future[V]:
        """Start the read of `key` now; when it ends, send the one the calls that came meanwhile wait for."""
        running = asyncio.ensure_future(self._read(key))
        self._running[key] = running
        running.add_done_callback(lambda done: self._ended(key, done))
        return running

    def _ended(self, key: K, done: asyncio.Future[V]) -> None:
        del self._running[key]
        waiting = self._next.pop(key, None)
        if not done.cancelled():
            done.exception()  # marked as seen: its callers got it, or were cancelled and need it no more
        if waiting is not None:
            _chain(self._send(key), waiting)


def _chain(source: asyncio.Future[V], target: asyncio.Future[V]) -> None:
    """Settle `target` with `source`'s outcome once it has one."""

    def settle(done: asyncio.Future[V]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif (error := done.exception()) is not None:
            target.set_exception(error)
            target.exception()  # marked as seen, as above
        else:
            target.set_result(done.result())

    source.add_done_callback(settle)
