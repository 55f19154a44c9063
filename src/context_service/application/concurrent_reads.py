"""Reads run concurrently: two at once for one call, and one shared by many calls.

Under load many calls ask the same question at once (the freshness check of one story's cached context, one
session key). Each call must see every write acknowledged before it arrived, so a call may share a read only
if that read was sent after the call arrived (`CoalescedReads`). Per key, one read is in flight; calls that
arrive while it runs wait for the next one, which is sent as soon as the first returns and answers all of
them. A lone call runs its read in its own task at once, as without sharing; under load, one read answers
every call that arrived during the previous one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
A = TypeVar("A")
B = TypeVar("B")


class CoalescedReads(Generic[K, V]):
    """`read(key)` shared by the calls that arrived before it was sent; at most one in flight per key."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._running: set[K] = set()  # sent: too old for calls arriving now
        self._next: dict[K, asyncio.Future[V]] = {}  # not sent yet: a call arriving now may join it

    async def get(self, key: K) -> V:
        """The value of a read sent after this call arrived (shared with others that arrived before it)."""
        waiting = self._next.get(key)
        if waiting is None:
            if key not in self._running:
                self._running.add(key)
                return await self._run(key)  # nobody else waits for this read: in this call's own task
            waiting = self._next[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiting)  # a caller giving up leaves the read to the others

    async def _run(self, key: K) -> V:
        try:
            return await self._read(key)
        finally:
            self._running.discard(key)
            waiting = self._next.pop(key, None)
            if waiting is not None:  # the calls that came meanwhile: their read goes now
                self._running.add(key)
                _settle_with(asyncio.ensure_future(self._run(key)), waiting)


def _settle_with(source: asyncio.Future[V], target: asyncio.Future[V]) -> None:
    """Give `target` the outcome of `source` once it has one."""

    def settle(done: asyncio.Future[V]) -> None:
        if done.cancelled():
            target.cancel()
        elif (error := done.exception()) is not None:
            target.set_exception(error)
            target.exception()  # marked as seen: its waiters get it, or were cancelled and need it no more
        else:
            target.set_result(done.result())

    source.add_done_callback(settle)


async def at_once(first: Awaitable[A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """Both results, read concurrently: `second` in a task while this one awaits `first`.

    One task per call where `asyncio.gather` makes two. If `first` fails, `second` is cancelled and
    awaited before the error goes on.
    """
    task = asyncio.ensure_future(second)
    try:
        result = await first
    except BaseException:
        task.cancel()
        await asyncio.wait((task,))
        if not task.cancelled():
            task.exception()  # retrieved: its own failure is not the one to report
        raise
    return result, await task
