"""The Lua scripts that make each shared change atomic in Redis (one script = one step).

Times come from Redis's own clock (``TIME``), so replicas on hosts whose clocks differ agree.
Numbers that must keep their fractions are returned as strings (Redis truncates Lua numbers).

>>> sorted(name for name in __all__ if name.isupper())[:3]
['CLAIM', 'COMPACT', 'NEW_EPOCH']
"""

from __future__ import annotations

__all__ = [
    "CLAIM",
    "COMPACT",
    "NEW_EPOCH",
    "PUT_NEWER",
    "PUT_PART",
    "PUT_PENDING",
    "RATE",
    "RESERVE",
    "SEED",
    "SETTLE",
    "SPEND_AT_LEAST",
    "TAKE",
]

#: KEYS: epochs, parts, index, seen. ARGV: model, field, epoch "seq|replica", version, blob.
#: Stores a replica's part when its epoch is the model's current one and its version is newer,
#: and when (Redis's clock, seconds) it was stored. Returns 1 (stored or already newer) or 0
#: (the model moved to another epoch).
PUT_PART = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or '0|'
if current ~= ARGV[3] then return 0 end
local held = redis.call('HGET', KEYS[3], ARGV[2])
if held then
  local epoch, version = string.match(held, '^(.*)|(%d+)$')
  if epoch == ARGV[3] and tonumber(version) >= tonumber(ARGV[4]) then return 1 end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. '|' .. ARGV[4])
redis.call('HSET', KEYS[4], ARGV[2], redis.call('TIME')[1])
return 1
"""

_DROP_PARTS = """
local function drop_parts(model)
  local prefix = model .. '\\31'
  for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
    if string.sub(field, 1, #prefix) == prefix then
      redis.call('HDEL', KEYS[3], field)
      redis.call('HDEL', KEYS[4], field)
      redis.call('HDEL', KEYS[5], field)
    end
  end
end
"""

#: KEYS: epochs, bases, parts, index, seen. ARGV: model, seq, replica, base blob.
#: Starts a newer epoch for the model (its base; the older parts are dropped). Returns 1 when
#: this epoch is current afterwards, 0 when a greater one already is.
NEW_EPOCH = (
    _DROP_PARTS
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local seq = tonumber(ARGV[2])
if current then
  local s, r = string.match(current, '^(%d+)|(.*)$')
  s = tonumber(s)
  if s > seq or (s == seq and r > ARGV[3]) then return 0 end
  if s == seq and r == ARGV[3] then
    redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[4])
    return 1
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
drop_parts(ARGV[1])
return 1
"""
)

#: KEYS: epochs, bases, parts, index, seen. ARGV: model, its epoch "seq|replica", the new
#: epoch's seq and replica, the new base (the model's merged sums), then field, index value
#: pairs: every part of the model the base was merged from. When the model is still in that
#: epoch with exactly those parts at those versions, a new epoch begins whose base is the merge
#: and the parts are dropped (a compaction); otherwise nothing changes. Returns 1 or 0.
COMPACT = (
    _DROP_PARTS
    + """
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0|') ~= ARGV[2] then return 0 end
local expected, count = {}, 0
for i = 6, #ARGV, 2 do
  expected[ARGV[i]] = ARGV[i + 1]
  count = count + 1
end
local prefix = ARGV[1] .. '\\31'
for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
  if string.sub(field, 1, #prefix) == prefix then
    if expected[field] ~= redis.call('HGET', KEYS[4], field) then return 0 end
    count = count - 1
  end
end
if count ~= 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. '|' .. ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
drop_parts(ARGV[1])
return 1
"""
)

#: KEYS: seed, bases. ARGV: the seed's JSON, then model, base blob pairs. The first replica to
#: run it writes the seed and the bases it started from (together); later ones change nothing.
#: Returns 1 when this call seeded.
SEED = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
  return 1
end
return 0
"""

#: KEYS: a hash. ARGV: field, version, value. Stores "version|value" when the version is newer.
PUT_NEWER = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local version = tonumber(string.match(held, '^(%d+)|'))
  if version and version >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return 1
"""

#: KEYS: one hash of per-second counts per limited figure. ARGV: window_s, then for each key:
#: amount needed, limit. Admits (and counts) when every figure has room in the sliding window;
#: otherwise returns the seconds to wait, as a string ("0": admitted).
RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local need, limit = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  if need > limit then return 'inf' end
  local flat = redis.call('HGETALL', key)
  local slots, used = {}, 0
  for j = 1, #flat, 2 do
    local second, amount = tonumber(flat[j]), tonumber(flat[j + 1])
    if second + 1 + window <= now then
      redis.call('HDEL', key, flat[j])
    else
      used = used + amount
      table.insert(slots, {second, amount})
    end
  end
  if used + need > limit then
    table.sort(slots, function(a, b) return a[1] < b[1] end)
    for _, slot in ipairs(slots) do
      used = used - slot[2]
      if used + need <= limit then
        wait = math.max(wait, slot[1] + 1 + window - now)
        break
      end
    end
  end
end
if wait > 0 then return tostring(wait) end
local second = math.floor(now)
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, second, tonumber(ARGV[2 * i]))
  redis.call('EXPIRE', key, math.ceil(window) + 2)
end
return '0'
"""

_PURGE = """
local function purge(account, expiry, now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
    local amount = redis.call('HGET', account, 'r:' .. id)
    if amount then
      redis.call('HINCRBYFLOAT', account, 'reserved', -tonumber(amount))
      redis.call('HDEL', account, 'r:' .. id)
    end
    redis.call('ZREM', expiry, id)
  end
  if redis.call('ZCARD', expiry) == 0 then redis.call('HSET', account, 'reserved', 0) end
end
local function spent(totals)
  local sum = 0
  for _, value in ipairs(redis.call('HVALS', totals)) do sum = sum + tonumber(value) end
  return sum
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS: for each budget its account hash, reservation expiries (zset), spend per replica
#: (hash). ARGV: reservation id, estimate, hold_ms, key_ttl_ms (0: none), then per budget:
#: limit, hard ("1"/"0"). Holds the estimate in every budget unless a hard one is used up
#: (spent + reserved >= limit). Returns {refusing budget's number (0: none), then per budget
#: spent and reserved as strings}.
RESERVE = (
    _PURGE
    + """
local n = #KEYS / 3
local out, refused = {}, 0
for i = 0, n - 1 do
  purge(KEYS[3 * i + 1], KEYS[3 * i + 2], now)
  local total = spent(KEYS[3 * i + 3])
  local reserved = tonumber(redis.call('HGET', KEYS[3 * i + 1], 'reserved') or '0')
  if refused == 0 and ARGV[6 + 2 * i] == '1' and total + reserved >= tonumber(ARGV[5 + 2 * i]) then
    refused = i + 1
  end
  table.insert(out, tostring(total))
  table.insert(out, tostring(reserved))
end
if refused == 0 then
  local estimate = tonumber(ARGV[2])
  for i = 0, n - 1 do
    local account, expiry = KEYS[3 * i + 1], KEYS[3 * i + 2]
    redis.call('HSET', account, 'r:' .. ARGV[1], ARGV[2])
    redis.call('HINCRBYFLOAT', account, 'reserved', estimate)
    redis.call('ZADD', expiry, now + tonumber(ARGV[3]), ARGV[1])
    out[2 * i + 2] = tostring(tonumber(out[2 * i + 2]) + estimate)
    if tonumber(ARGV[4]) > 0 then
      for j = 1, 3 do redis.call('PEXPIRE', KEYS[3 * i + j], ARGV[4]) end
    end
  end
end
table.insert(out, 1, refused)
return out
"""
)

#: KEYS: as for RESERVE. ARGV: reservation id ("" for none), replica, key_ttl_ms, then per
#: budget this replica's total spend in the period. Releases the reservation and raises this
#: replica's spend to its total (idempotent: a repeated settle changes nothing).
SETTLE = (
    _PURGE
    + """
local n = #KEYS / 3
for i = 0, n - 1 do
  local account, expiry, totals = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  if ARGV[1] ~= '' then
    local amount = redis.call('HGET', account, 'r:' .. ARGV[1])
    if amount then
      redis.call('HINCRBYFLOAT', account, 'reserved', -tonumber(amount))
      redis.call('HDEL', account, 'r:' .. ARGV[1])
    end
    redis.call('ZREM', expiry, ARGV[1])
  end
  purge(account, expiry, now)
  local mine = tonumber(redis.call('HGET', totals, ARGV[2]) or '0')
  if tonumber(ARGV[4 + i]) > mine then redis.call('HSET', totals, ARGV[2], ARGV[4 + i]) end
  if tonumber(ARGV[3]) > 0 then
    for j = 1, 3 do redis.call('PEXPIRE', KEYS[3 * i + j], ARGV[3]) end
  end
end
return 1
"""
)

#: KEYS: a hash of numbers. ARGV: field, value, key_ttl_ms (0: none). Raises the field to value.
SPEND_AT_LEAST = """
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > held then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

#: KEYS: a pending decision, its tombstone. ARGV: record, ttl_ms. Stores the decision unless it
#: was answered already (its tombstone exists). Returns 1 when stored.
PUT_PENDING = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

#: KEYS: a pending decision, its tombstone. ARGV: ttl_ms. The replica that holds the decision
#: claims it: 1 (claimed here), 0 (another replica took it already), 2 (not in Redis).
CLAIM = """
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[1])
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], 1, 'PX', ARGV[1])
return 2
"""

#: KEYS: a pending decision, its tombstone. ARGV: ttl_ms. Takes a decision made elsewhere:
#: its record, or nil when there is none (never made, expired, or taken already).
TAKE = """
local record = redis.call('GET', KEYS[1])
if not record then return false end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], 1, 'PX', ARGV[1])
return record
"""
