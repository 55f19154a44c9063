"""Lua scripts as batch commands: EVALSHA, and the whole script when the server does not know it yet."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from redis.typing import EncodableT

from context_service.adapters.valkey.client import Command


class LuaScript:
    """A script run by its SHA1; sent whole (and cached again) when the server does not know it yet.

    All of a call's keys must share one hash slot, so the same call works on Valkey Cluster.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._sha = hashlib.sha1(text.encode()).hexdigest()

    def command(self, keys: Sequence[str], args: Sequence[EncodableT]) -> Command:
        """The call as one command of a `ValkeyClient.batch` (routed by its first key)."""
        tail: tuple[EncodableT, ...] = (len(keys), *keys, *args)
        return Command(keys[0], ("EVALSHA", self._sha, *tail), fallback=("EVAL", self._text, *tail))
