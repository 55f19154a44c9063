"""A story's read-model keys (`swe:case:{id}:*`) read out with values and expiry, and swapped as one batch.

Expiry travels as an absolute time (PEXPIRETIME / PXAT), so exporting the same keys twice gives the same
document, and an imported key expires when the original would have. The keys carry no hash tag (their
format is shared with the fleet), so on a Valkey Cluster they span slots: there the reads and the swap run
per node, in order but not atomically; on a single node each is one MULTI/EXEC.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from redis.typing import EncodableT

from context_service.adapters.kv_glob import glob_escape
from context_service.adapters.valkey.client import Command, ValkeyClient
from context_service.domain.snapshot import ReadModelEntry, StreamEntry, read_model_prefix

log = structlog.get_logger()
_SCAN_COUNT = 1000
_SUPPORTED = ("string", "stream")


async def _keys(client: ValkeyClient, story_id: str, operation: str) -> list[str]:
    match = glob_escape(read_model_prefix(story_id)) + "*"
    return sorted(set(await client.scan(operation, match, _SCAN_COUNT)))


def _entry(key: str, kind: str, expire_at_ms: int, value: Any) -> ReadModelEntry:
    if kind == "string":
        return ReadModelEntry(key, kind, value=str(value), expire_at_ms=expire_at_ms)
    entries = tuple(
        StreamEntry(str(i), tuple((str(k), str(v)) for k, v in fields.items())) for i, fields in value
    )
    return ReadModelEntry(key, kind, entries=entries, expire_at_ms=expire_at_ms)


async def export_read_models(client: ValkeyClient, story_id: str) -> tuple[ReadModelEntry, ...]:
    """Every string and stream key of the story (other types are logged and left out), sorted by key."""
    operation = "read_models.export"
    keys = await _keys(client, story_id, operation)
    if not keys:
        return ()
    meta = await client.batch(
        operation, [Command(key, (name, key)) for key in keys for name in ("TYPE", "PEXPIRETIME")]
    )
    kinds = dict(zip(keys, meta[0::2], strict=True))
    expiry = dict(zip(keys, meta[1::2], strict=True))
    wanted = [k for k in keys if kinds[k] in _SUPPORTED]
    for key in sorted(set(keys) - set(wanted)):
        log.warning("read_model_not_exported", key=key, type=kinds[key])
    reads = [
        Command(key, ("GET", key) if kinds[key] == "string" else ("XRANGE", key, "-", "+")) for key in wanted
    ]
    values = await client.batch(operation, reads, atomic=True)
    found = zip(wanted, values, strict=True)
    return tuple(
        _entry(key, kinds[key], max(0, int(expiry[key])), value) for key, value in found if value is not None
    )


async def replace_read_models(
    client: ValkeyClient, story_id: str, entries: tuple[ReadModelEntry, ...]
) -> None:
    """Delete the story's keys and write `entries` (those not expired yet) in one batch; a retry after a
    partial failure on a cluster writes the same keys again."""
    now_ms = int(time.time() * 1000)
    live = [e for e in entries if e.expire_at_ms == 0 or e.expire_at_ms > now_ms]
    existing = await _keys(client, story_id, "read_models.replace")
    writes = [Command(entry.key, args) for entry in live for args in _writes(entry)]
    await client.batch("read_models.replace", client.deletes(existing) + writes, atomic=True)


def _writes(entry: ReadModelEntry) -> list[tuple[EncodableT, ...]]:
    if entry.kind == "string":
        expiry = ("PXAT", entry.expire_at_ms) if entry.expire_at_ms else ()
        return [("SET", entry.key, entry.value, *expiry)]
    commands: list[tuple[EncodableT, ...]] = [
        ("XADD", entry.key, item.entry_id, *(part for pair in item.fields for part in pair))
        for item in entry.entries
    ]
    if entry.expire_at_ms and entry.entries:
        commands.append(("PEXPIREAT", entry.key, entry.expire_at_ms))
    return commands
