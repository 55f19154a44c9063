"""The event loop a served process runs on (`EVENT_LOOP`): libuv's (uvloop, the default) or asyncio's own.

grpc.aio, redis-py, nats-py and the service's own code run on either; uvloop's loop costs each call less
(see README, Performance). Where uvloop is not installed (it is not built for Windows), asyncio's loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from context_service.config import EventLoop, Settings

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], loop: EventLoop) -> T:
    """`asyncio.run(main)` on a new loop of the chosen kind."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)


def configured() -> EventLoop:
    """The loop `EVENT_LOOP` names, for a process beside the service that should run on the same (the
    benchmark's echo)."""
    return Settings(GRAPH_BACKEND="memory").event_loop  # only the loop is read; no store is named


def loop_factory(loop: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes a loop of the chosen kind (None: asyncio's default)."""
    if loop != "uvloop":
        return None
    try:
        import uvloop  # noqa: PLC0415 — only a served process needs it
    except ImportError:
        return None
    return uvloop.new_event_loop
