"""KeyValueStore on Valkey: each key one JSON document with its version, written by Lua scripts.

A document is `{"version":N,"value":<the JSON value>}` with the version first, so a script reads the
version with one pattern match and never re-encodes the value (Lua's cjson would turn 2**62 into a float
and `[]` into `{}`). Writes bump the version atomically; TTLs are PX milliseconds; listing uses SCAN.

Every write waits for the configured replicas (WAIT, 1 on a cluster): this store holds the outbox,
idempotency records and dedup markers, whose loss would lose an event or apply an effect twice. On a
cluster a batch is atomic per hash slot; keys that must change together share a hash tag.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

from context_service.adapters.kv_glob import glob_escape, literal_prefix, matching
from context_service.adapters.valkey.client import BACKEND, ValkeyClient
from context_service.adapters.valkey.lua import LuaScript
from context_service.ports.errors import PortError, VersionConflict
from context_service.ports.kv import JsonObject, Versioned

# write(key, version, value, ttl): ttl nil = no expiry (clears an old one), > 0 = PX, <= 0 = already expired.
_PRELUDE = """
local function version_of(doc)
  if not doc then return 0 end
  return tonumber(string.match(doc, '^{"version":(%d+),')) or 0
end
local function write(key, version, value, ttl)
  local doc = '{"version":' .. version .. ',"value":' .. value .. '}'
  if ttl == nil then redis.call('SET', key, doc)
  elseif ttl > 0 then redis.call('SET', key, doc, 'PX', ttl)
  else redis.call('DEL', key) end
end
local ttl = tonumber(ARGV[1])
"""
# KEYS: the keys; ARGV: ttl, then one value per key.
_SET = (
    _PRELUDE
    + """
for i, key in ipairs(KEYS) do
  write(key, version_of(redis.call('GET', key)) + 1, ARGV[i + 1], ttl)
end
return #KEYS
"""
)
# KEYS[1]: the key; ARGV: ttl, expected version, value. Returns {1, new version} or {0, current version}.
_CAS = (
    _PRELUDE
    + """
local current = version_of(redis.call('GET', KEYS[1]))
if current ~= tonumber(ARGV[2]) then return {0, current} end
write(KEYS[1], current + 1, ARGV[3], ttl)
return {1, current + 1}
"""
)
_SCAN_COUNT = 1000


def document_head(version: int = 1) -> str:
    """How a stored document starts, up to its value (what `write` above makes): for a record written by
    another script of this Valkey, readable by `get_many`."""
    return '{"version":' + str(version) + ',"value":'


def _ttl_arg(ttl: float | None) -> str:
    if ttl is None:
        return ""
    return "0" if ttl <= 0 else str(max(1, math.ceil(ttl * 1000)))


def _decode(raw: str, operation: str) -> Versioned:
    try:
        doc = json.loads(raw)
        return Versioned(doc["value"], int(doc["version"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PortError(
            f"valkey {operation}: not a stored document", backend=BACKEND, operation=operation
        ) from exc


class ValkeyKeyValueStore:
    """JSON mappings under `prefix` + key; `list_keys` adds and strips the prefix transparently."""

    def __init__(self, *, client: ValkeyClient, prefix: str = "ctx:kv:") -> None:
        self._client = client
        self._prefix = prefix
        self._set = LuaScript(_SET)
        self._cas = LuaScript(_CAS)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> JsonObject | None:
        """The value, or None when absent or expired."""
        found = await self.get_versioned(key)
        return None if found is None else found.value

    async def get_versioned(self, key: str) -> Versioned | None:
        """The value with its version, or None when absent or expired."""
        async with self._client.call("kv.get") as redis:
            raw = await redis.get(self._key(key))
            return None if raw is None else _decode(str(raw), "kv.get")

    async def set(self, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Write (overwrite) a value; without `ttl` the key no longer expires."""
        await self.set_many({key: value}, ttl)

    async def delete(self, key: str) -> None:
        """Remove a key; an absent key is not an error."""
        await self.delete_many([key])

    async def list_keys(self, pattern: str) -> list[str]:
        """Live keys matching a glob, sorted (SCAN of every primary, narrowed by the literal prefix)."""
        match = glob_escape(self._prefix + literal_prefix(pattern)) + "*"
        found = await self._client.scan("kv.list_keys", match, _SCAN_COUNT)
        return matching((k.removeprefix(self._prefix) for k in found), pattern)

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonObject]:
        """The live values of those keys that exist (one MGET per hash slot, one round trip per node)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        raws, _ = await self._client.read("kv.get_many", [self._key(k) for k in wanted])
        found = ((k, raws.get(self._key(k))) for k in wanted)
        return {k: _decode(str(raw), "kv.get_many").value for k, raw in found if raw is not None}

    async def set_many(self, items: Mapping[str, JsonObject], ttl: float | None = None) -> None:
        """Write several values: atomically per hash slot (one script call each), waiting for a replica."""
        if not items:
            return
        values = {self._key(k): json.dumps(dict(v)) for k, v in items.items()}
        calls = [
            self._set.command(group, [_ttl_arg(ttl), *(values[k] for k in group)])
            for group in self._client.slot_groups(list(values))
        ]
        await self._client.batch("kv.set", calls, durable=True)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove several keys (one DEL per hash slot)."""
        await self._client.batch("kv.delete", self._client.deletes([self._key(k) for k in keys]))

    async def compare_and_set(
        self, key: str, expected_version: int, value: JsonObject, ttl: float | None = None
    ) -> int:
        """Write only if the stored version equals `expected_version` (0 = absent); the new version."""
        args = [_ttl_arg(ttl), str(expected_version), json.dumps(dict(value))]
        [(written, version)] = await self._client.batch(
            "kv.cas", [self._cas.command([self._key(key)], args)], durable=True
        )
        if not written:
            raise VersionConflict(
                f"version is {version}, expected {expected_version}", backend=BACKEND, operation="kv.cas"
            )
        return int(version)
