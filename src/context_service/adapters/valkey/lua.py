"""Lua scripts run by their SHA1 (EVALSHA), sent whole once when the server does not know them yet."""

from __future__ import annotations

import hashlib
from typing import Any

from redis import exceptions as rx
from redis.asyncio import Redis


class LuaScript:
    """A script run by its SHA1; sent whole (and cached again) when the server does not know it yet.

    All of a call's keys must share one hash slot, so the same call works on Valkey Cluster.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._sha = hashlib.sha1(text.encode()).hexdigest()

    async def __call__(self, redis: Redis, keys: list[str], args: list[str]) -> Any:
        """Run with `keys` and `args`; the script's reply as the driver decodes it."""
        try:
            return await redis.evalsha(self._sha, len(keys), *keys, *args)
        except rx.NoScriptError:
            return await redis.eval(self._text, len(keys), *keys, *args)
