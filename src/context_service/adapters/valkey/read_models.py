"""A story's read-model keys (`swe:case:{id}:*`) read out with values and expiry, and swapped atomically.

Expiry travels as an absolute time (PEXPIRETIME / PXAT), so exporting the same keys twice gives the same
document, and an imported key expires when the original would have.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from context_service.adapters.kv_glob import glob_escape
from context_service.adapters.valkey.client import ValkeyClient
from context_service.domain.snapshot import ReadModelEntry, StreamEntry, read_model_prefix

log = structlog.get_logger()
_SCAN_COUNT = 1000
_SUPPORTED = ("string", "stream")


async def _keys(redis: Any, story_id: str) -> list[str]:
    match = glob_escape(read_model_prefix(story_id)) + "*"
    return sorted({str(k) async for k in redis.scan_iter(match=match, count=_SCAN_COUNT)})


def _entry(key: str, kind: str, expire_at_ms: int, value: Any) -> ReadModelEntry:
    if kind == "string":
        return ReadModelEntry(key, kind, value=str(value), expire_at_ms=expire_at_ms)
    entries = tuple(
        StreamEntry(str(i), tuple((str(k), str(v)) for k, v in fields.items())) for i, fields in value
    )
    return ReadModelEntry(key, kind, entries=entries, expire_at_ms=expire_at_ms)


async def export_read_models(client: ValkeyClient, story_id: str) -> tuple[ReadModelEntry, ...]:
    """Every string and stream key of the story (other types are logged and left out), sorted by key."""
    async with client.call("read_models.export") as redis:
        keys = await _keys(redis, story_id)
        if not keys:
            return ()
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.execute_command("TYPE", key)
                pipe.execute_command("PEXPIRETIME", key)
            meta = await pipe.execute()
        kinds = dict(zip(keys, meta[0::2], strict=True))
        expiry = dict(zip(keys, meta[1::2], strict=True))
        wanted = [k for k in keys if kinds[k] in _SUPPORTED]
        for key in sorted(set(keys) - set(wanted)):
            log.warning("read_model_not_exported", key=key, type=kinds[key])
        async with redis.pipeline(transaction=True) as pipe:
            for key in wanted:
                read = ("GET", key) if kinds[key] == "string" else ("XRANGE", key, "-", "+")
                pipe.execute_command(*read)
            values = await pipe.execute()
    found = zip(wanted, values, strict=True)
    return tuple(
        _entry(key, kinds[key], max(0, int(expiry[key])), value) for key, value in found if value is not None
    )


async def replace_read_models(
    client: ValkeyClient, story_id: str, entries: tuple[ReadModelEntry, ...]
) -> None:
    """Delete the story's keys and write `entries` (those not expired yet) in one MULTI/EXEC."""
    now_ms = int(time.time() * 1000)
    live = [e for e in entries if e.expire_at_ms == 0 or e.expire_at_ms > now_ms]
    async with client.call("read_models.replace") as redis:
        existing = await _keys(redis, story_id)
        async with redis.pipeline(transaction=True) as pipe:
            if existing:
                pipe.execute_command("DEL", *existing)
            for entry in live:
                _write(pipe, entry)
            await pipe.execute()


def _write(pipe: Any, entry: ReadModelEntry) -> None:
    if entry.kind == "string":
        expiry = ("PXAT", entry.expire_at_ms) if entry.expire_at_ms else ()
        pipe.execute_command("SET", entry.key, entry.value, *expiry)
        return
    for item in entry.entries:
        pipe.execute_command(
            "XADD", entry.key, item.entry_id, *(part for pair in item.fields for part in pair)
        )
    if entry.expire_at_ms and entry.entries:
        pipe.execute_command("PEXPIREAT", entry.key, entry.expire_at_ms)
