"""Lua scripts of the Valkey session store: each change of a session is one script call.

Every script takes the session's eight keys, its write marker and (a change) the key of its outbox record, all
under one hash tag (`{sess:<id>}`), so each runs on one Valkey Cluster slot: meta (hash), hdr (key -> entry
header JSON), val (key -> value JSON, never re-encoded), exp (zset by expiry), lru (zset by revision written),
keys (lex zset), tags (lex zset of tag NUL key) and log (stream, ids `<revision>-<n>`, trimmed with MINID to
the last `retention` revisions); KEYS[9] the write marker, KEYS[10] the outbox record.
ARGV[1] = now ms, ARGV[2] = retention, ARGV[3] = how long unused keys live (the idle-expiry safety net),
ARGV[4] = the head of an outbox record ('' = none), ARGV[5] = its lifetime in ms, ARGV[6] = the write's
fingerprint, ARGV[7] = how long its marker lives in ms (0 = no marker); each script's own arguments follow.
Events are returned as {type, key, revision, header, value, prev, at} (PUT leaves the value of its SET events
out of its reply: the caller sent it).

A change of a session that notifies also writes, in the same step, the outbox record saying its
notifications are owed (KEYS[10], in the session's slot): the head the caller built (the stored document's
start, the session and request ids) completed with the first and last revision written and the time. The
relay re-sends from the change log whatever such a record names, so a process lost between the change and
its notifications loses none of them.

A change given a marker (PUT, DELETE, DROP: `once`) is made once: the script keeps its reply under the marker
key (events without their values) for the marker's lifetime, and a call naming that marker again gets the
kept reply, changing nothing (or {'reused'} when its fingerprint differs). A command sent again after a lost
connection, or a request retried under the same idempotency key, so lands once.
"""

from __future__ import annotations

PRELUDE = r"""
local KM, KH, KV, KE, KL, KK, KT, KG = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now = tonumber(ARGV[1])
local retention = tonumber(ARGV[2])
local keep_ms = tonumber(ARGV[3])
local notice_head, notice_ms = ARGV[4], ARGV[5]
local out = {}
local last_rev, seq = -1, 0

local function n(x) return string.format('%d', x) end

local function parse(h)
  local v, r, c, u, e = string.match(h, '^{"v":(%d+),"r":(%d+),"c":(%d+),"u":(%d+),"e":(%d+),')
  return tonumber(v), tonumber(r), tonumber(c), tonumber(u), tonumber(e)
end

local function logged_revision()
  local last = redis.call('XREVRANGE', KG, '+', '-', 'COUNT', 1)
  if last[1] then return tonumber(string.match(last[1][1], '^(%d+)')) end
  return 0
end

local function revision()
  local r = redis.call('HGET', KM, 'revision')
  if r then return tonumber(r) end
  return logged_revision()
end

local function live_header(key)
  local h = redis.call('HGET', KH, key)
  if not h then return nil end
  local _, _, _, _, e = parse(h)
  if e > 0 and e <= now then return nil end
  return h
end

local function log(rev, typ, key, h, value, prev)
  if rev == last_rev then seq = seq + 1 else last_rev, seq = rev, 0 end
  local floor = rev - retention + 1
  if floor < 1 then floor = 1 end
  redis.call('XADD', KG, 'MINID', n(floor) .. '-0', n(rev) .. '-' .. n(seq),
    't', typ, 'k', key, 'h', h, 'v', value, 'p', prev, 'at', n(now))
  table.insert(out, {typ, key, rev, h, value, prev, now})
end

local function unindex(key, h)
  for _, t in ipairs(cjson.decode(h).g) do redis.call('ZREM', KT, t .. '\0' .. key) end
  redis.call('ZREM', KE, key)
  redis.call('ZREM', KL, key)
  redis.call('ZREM', KK, key)
  redis.call('HDEL', KH, key)
end

local function remove(typ, key)
  local h = redis.call('HGET', KH, key)
  local value = redis.call('HGET', KV, key)
  unindex(key, h)
  redis.call('HDEL', KV, key)
  log(redis.call('HINCRBY', KM, 'revision', 1), typ, key, h, value, '')
end

local function expire_due()
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', KE, '-inf', now)) do remove('EXPIRE', key) end
end

local function live_count()
  return redis.call('HLEN', KH) - redis.call('ZCOUNT', KE, '-inf', now)
end

local function info()
  local m = redis.call('HMGET', KM, 'ttl', 'max', 'bytes', 'strict', 'notify', 'created', 'updated')
  return {revision(), live_count(), m[1], m[2], m[3], m[4], m[5], m[6], m[7]}
end

local function keep()
  for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], keep_ms) end
end

-- Lower the session's due time (next expiry or idle drop); 1 when the global due index must learn it.
local function reschedule(idle_ms)
  local due = tonumber(redis.call('HGET', KM, 'updated')) + idle_ms
  local first = redis.call('ZRANGE', KE, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < due then due = tonumber(first[2]) end
  local known = tonumber(redis.call('HGET', KM, 'due') or '-1')
  redis.call('HSET', KM, 'due', n(due))
  if known < 0 or due < known then return due end
  return -1
end

-- The outbox record of the changes in `out` when the session notifies and a head was given; 1 if written.
local function notice(notify)
  if notify ~= '1' or notice_head == '' or #out == 0 then return 0 end
  redis.call('SET', KEYS[10], notice_head .. n(out[1][3]) .. ',"to":' .. n(out[#out][3])
    .. '},"recorded_ms":' .. n(now) .. '}}', 'PX', notice_ms)
  return 1
end

local function drop()
  local live = live_count()
  local rev = revision() + 1
  local notify = redis.call('HGET', KM, 'notify')
  redis.call('DEL', KM, KH, KV, KE, KL, KK, KT)
  log(rev, 'SESSION_DROPPED', '', '', '', '')
  redis.call('PEXPIRE', KG, keep_ms)
  return {'ok', live, notify, out, notice(notify)}
end
"""


def once(change: str) -> str:
    """A change script (its body after the prelude) run at most once per write marker (see above)."""
    return (
        PRELUDE
        + "local function change()\n"
        + change
        + r"""end
local marker_ms = tonumber(ARGV[7])
if marker_ms > 0 then
  local kept = redis.call('GET', KEYS[9])
  if kept then
    kept = cjson.decode(kept)
    if kept[1] ~= ARGV[6] then return {'reused'} end
    return kept[2]
  end
end
local reply = change()
if marker_ms > 0 and reply[1] == 'ok' then
  local events, copy = {}, {}
  for i, e in ipairs(out) do events[i] = {e[1], e[2], e[3], e[4], '', '', e[7]} end
  for i, x in ipairs(reply) do
    if x == out then copy[i] = events else copy[i] = x end
  end
  redis.call('SET', KEYS[9], cjson.encode({ARGV[6], copy}), 'PX', marker_ms)
end
return reply
"""
    )


# ARGV[8..12]: ttl, max entries, max bytes, strict, notify; ARGV[13]: idle ms.
CREATE = (
    PRELUDE
    + r"""
local created = 0
if redis.call('EXISTS', KM) == 0 then
  created = 1
  redis.call('HSET', KM, 'revision', n(logged_revision()), 'created', n(now), 'updated', n(now))
end
redis.call('HSET', KM, 'ttl', ARGV[8], 'max', ARGV[9], 'bytes', ARGV[10], 'strict', ARGV[11],
  'notify', ARGV[12])
keep()
return {created, info(), reschedule(tonumber(ARGV[13]))}
"""
)

INFO = (
    PRELUDE
    + r"""
if redis.call('EXISTS', KM) == 0 then return false end
return info()
"""
)

DROP = once(
    r"""
if redis.call('EXISTS', KM) == 0 then return {'none'} end
return drop()
"""
)

# ARGV[8]: idle ms; ARGV[9..11]: default ttl, max entries, max bytes for a new session; then per item:
# key, value, ttl ('' = default), expected version ('' = none), source/tags JSON, tags joined by \31.
PUT = once(
    r"""
local idle = tonumber(ARGV[8])
local exists = redis.call('EXISTS', KM) == 1
local ttl_d, maxn, maxb, strict = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), 0
if exists then
  local o = redis.call('HMGET', KM, 'ttl', 'max', 'bytes', 'strict')
  ttl_d, maxn, maxb, strict = tonumber(o[1]), tonumber(o[2]), tonumber(o[3]), tonumber(o[4])
end
local count = (#ARGV - 11) / 6
local writing, new = {}, 0  -- key -> its live header, or false
for i = 0, count - 1 do
  local b = 12 + i * 6
  local h = live_header(ARGV[b])
  local current = 0
  if h then current = parse(h) else new = new + 1 end
  if ARGV[b + 3] ~= '' and tonumber(ARGV[b + 3]) ~= current then return {'conflict', i, current} end
  if #ARGV[b + 1] > maxb then return {'too_large', i, #ARGV[b + 1], maxb} end
  writing[ARGV[b]] = h or false
end
local over = live_count() + new - maxn
if over > 0 and (strict == 1 or new > maxn) then return {'full', maxn} end
if not exists then
  redis.call('HSET', KM, 'revision', n(logged_revision()), 'created', n(now), 'ttl', ARGV[9],
    'max', ARGV[10], 'bytes', ARGV[11], 'strict', '0', 'notify', '1')
end
expire_due()
if over > 0 then
  for _, key in ipairs(redis.call('ZRANGE', KL, 0, over + count)) do
    if over == 0 then break end
    if writing[key] == nil then remove('EVICT', key); over = over - 1 end
  end
end
local rev = redis.call('HINCRBY', KM, 'revision', 1)
for i = 0, count - 1 do
  local b = 12 + i * 6
  local key, value = ARGV[b], ARGV[b + 1]
  local old = writing[key]  -- live when checked, so not expired since
  local ttl = ttl_d
  if ARGV[b + 2] ~= '' then ttl = tonumber(ARGV[b + 2]) end
  local expires = 0
  if ttl > 0 then expires = now + ttl end
  local version, created, prev = 1, now, ''
  if old then  -- overwritten: the indexes the new entry does not set again lose it
    local v, _, c, _, e = parse(old)
    version, created, prev = v + 1, c, redis.call('HGET', KV, key)
    if e > 0 and expires == 0 then redis.call('ZREM', KE, key) end
    if string.sub(old, -7) ~= '"g":[]}' then
      local kept = {}
      for t in string.gmatch(ARGV[b + 5], '[^\31]+') do kept[t] = true end
      for _, t in ipairs(cjson.decode(old).g) do
        if not kept[t] then redis.call('ZREM', KT, t .. '\0' .. key) end
      end
    end
  else
    redis.call('ZADD', KK, 0, key)
  end
  local h = '{"v":' .. n(version) .. ',"r":' .. n(rev) .. ',"c":' .. n(created) .. ',"u":' .. n(now)
    .. ',"e":' .. n(expires) .. ',' .. ARGV[b + 4] .. '}'
  redis.call('HSET', KH, key, h)
  redis.call('HSET', KV, key, value)
  if expires > 0 then redis.call('ZADD', KE, expires, key) end
  redis.call('ZADD', KL, rev, key)
  for t in string.gmatch(ARGV[b + 5], '[^\31]+') do redis.call('ZADD', KT, 0, t .. '\0' .. key) end
  log(rev, 'SET', key, h, value, prev)
  out[#out][5] = ''  -- the caller sent the value: the reply need not carry it back
end
redis.call('HSET', KM, 'updated', n(now))
keep()
local notify = redis.call('HGET', KM, 'notify')
return {'ok', rev, notify, reschedule(idle), out, notice(notify)}
"""
)

# ARGV[8]: idle ms, ARGV[9]: key, ARGV[10]: expected version ('' = none).
DELETE = once(
    r"""
local idle = tonumber(ARGV[8])
local key, expected = ARGV[9], ARGV[10]
local h = nil
if redis.call('EXISTS', KM) == 1 then h = live_header(key) end
local current = 0
if h then current = parse(h) end
if expected ~= '' and tonumber(expected) ~= current then return {'conflict', 0, current} end
if redis.call('EXISTS', KM) == 0 then return {'ok', revision(), '1', -1, out, 0} end
expire_due()
if h then
  local prev = redis.call('HGET', KV, key)
  local value = prev
  unindex(key, h)
  redis.call('HDEL', KV, key)
  log(redis.call('HINCRBY', KM, 'revision', 1), 'DELETE', key, h, value, prev)
  redis.call('HSET', KM, 'updated', n(now))
  keep()
end
local notify = redis.call('HGET', KM, 'notify')
return {'ok', revision(), notify, reschedule(idle), out, notice(notify)}
"""
)

# The read path, without the prelude: KEYS = hdr, val; ARGV[1] = now ms, then the keys asked for.
GET = r"""
local now, found = tonumber(ARGV[1]), {}
for i = 2, #ARGV do
  local h = redis.call('HGET', KEYS[1], ARGV[i])
  if h then
    local e = tonumber(string.match(h, ',"e":(%d+),'))
    if e == 0 or e > now then table.insert(found, {ARGV[i], h, redis.call('HGET', KEYS[2], ARGV[i])}) end
  end
end
return found
"""

# ARGV[8]: Lua pattern ('' = every key; \1 stands for one UTF-8 character), ARGV[9]: tag, ARGV[10]: after key,
# ARGV[11]: limit, ARGV[12]: the glob's literal prefix. Returns {revision, more, {key, header, value}...}.
FIND = (
    PRELUDE
    + r"""
local pattern, tag, after, limit, prefix = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11]), ARGV[12]
if pattern ~= '' then pattern = '^' .. string.gsub(pattern, '\1', '[^\128-\191][\128-\191]*') .. '$' end
local zset, start, cut = KK, '-', ''
if tag ~= '' then
  zset, cut = KT, tag .. '\0'
  start = '[' .. cut .. prefix
  if after ~= '' and after >= prefix then start = '(' .. cut .. after end
else
  if prefix ~= '' then start = '[' .. prefix end
  if after ~= '' and after >= prefix then start = '(' .. after end
end
local found, offset = {}, 0
while true do
  local chunk = redis.call('ZRANGEBYLEX', zset, start, '+', 'LIMIT', offset, 256)
  if #chunk == 0 then break end
  for _, member in ipairs(chunk) do
    if string.sub(member, 1, #cut) ~= cut then return {revision(), 0, found} end
    local key = string.sub(member, #cut + 1)
    if string.sub(key, 1, #prefix) ~= prefix then return {revision(), 0, found} end
    local h = live_header(key)
    if h and (pattern == '' or string.find(key, pattern)) then
      if #found == limit then return {revision(), 1, found} end
      table.insert(found, {key, h, redis.call('HGET', KV, key)})
    end
  end
  offset = offset + #chunk
end
return {revision(), 0, found}
"""
)

# ARGV[8]: idle ms. Expires due entries, or drops the session when idle; returns its next due time.
SWEEP = (
    PRELUDE
    + r"""
local idle = tonumber(ARGV[8])
if redis.call('EXISTS', KM) == 0 then return {'gone'} end
if tonumber(redis.call('HGET', KM, 'updated')) + idle <= now then
  local dropped = drop()
  dropped[1] = 'dropped'
  return dropped
end
expire_due()
redis.call('HDEL', KM, 'due')
local notify = redis.call('HGET', KM, 'notify')
return {'ok', reschedule(idle), notify, out, notice(notify)}
"""
)
