"""The one polling helper of the test suites: wait until a condition holds, within a bound."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

DEFAULT_WITHIN_S = 20.0
POLL_S = 0.02


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = DEFAULT_WITHIN_S,
    what: str = "condition",
) -> None:
    """Poll `check` (plain or async) until it is true; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within:g}s")
        await asyncio.sleep(POLL_S)
