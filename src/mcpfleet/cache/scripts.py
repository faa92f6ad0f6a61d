"""The Lua scripts of the Redis cache, and the layout of its keys.

Under ``key_prefix`` (``mcpfleet:cache:``) a namespace holds:

- ``v:<server>\\x1f<tool>\\x1f<scope>\\x1f<arguments>``: one entry, its JSON value, expiring
  with ``SET PX``;
- ``order``: a sorted set of the entry keys, scored by the strategy (LRU: last access in µs,
  LFU: hits, FIFO: write time in µs, TTL: expiry in ms); the lowest goes first;
- ``expiry``: a sorted set of the entry keys by expiry in ms, so entries Redis has expired
  leave ``order`` too (the TTL strategy uses ``order`` for both).

Time is Redis's own (``TIME``), so replicas whose clocks disagree still agree.
"""

from __future__ import annotations

import hashlib

__all__ = ["GET_SCRIPT", "GET_SHA", "SCRIPTS", "SET_SCRIPT", "SET_SHA"]

# A write, in one round trip. KEYS: entry, order index, expiry index (the order index itself for
# the TTL strategy). ARGV: JSON value, ttl in ms, max_size, strategy. First it forgets a few
# entries Redis has expired, then, if the entry is new and the namespace full, evicts the lowest
# scores of the order index (at most 1000 per write, when max_size was lowered).
# Returns {entries in the namespace, entries evicted}.
SET_SCRIPT = """
local entry, order, expiry = KEYS[1], KEYS[2], KEYS[3]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl, max = tonumber(ARGV[2]), tonumber(ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('DEL', unpack(gone))
  redis.call('ZREM', order, unpack(gone))
  if expiry ~= order then redis.call('ZREM', expiry, unpack(gone)) end
end
local evicted = 0
if not redis.call('ZSCORE', order, entry) then
  local over = math.min(redis.call('ZCARD', order) - max + 1, 1000)
  if over > 0 then
    local victims = redis.call('ZRANGE', order, 0, over - 1)
    redis.call('DEL', unpack(victims))
    redis.call('ZREM', order, unpack(victims))
    if expiry ~= order then redis.call('ZREM', expiry, unpack(victims)) end
    evicted = #victims
  end
end
redis.call('SET', entry, ARGV[1], 'PX', ttl)
local expires = string.format('%.17g', now + ttl)
if ARGV[4] == 'lfu' then
  redis.call('ZADD', order, 'NX', 0, entry)
elseif ARGV[4] == 'ttl' then
  redis.call('ZADD', order, expires, entry)
else
  redis.call('ZADD', order, string.format('%.17g', tonumber(clock[1]) * 1000000 + tonumber(clock[2])), entry)
end
if expiry ~= order then redis.call('ZADD', expiry, expires, entry) end
return {redis.call('ZCARD', order), evicted}
"""
# Reads for LRU and LFU, in one round trip for every read gathered in one event-loop turn:
# KEYS[1] is the order set, KEYS[2..] the entries; each found entry's score moves (time / hits + 1).
GET_SCRIPT = """
local order, values = KEYS[1], {}
local now
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  values[i - 1] = value
  if value then
    if ARGV[1] == 'lru' then
      if not now then
        local clock = redis.call('TIME')
        now = string.format('%.17g', tonumber(clock[1]) * 1000000 + tonumber(clock[2]))
      end
      redis.call('ZADD', order, 'XX', now, KEYS[i])
    else
      redis.call('ZADD', order, 'XX', 'INCR', 1, KEYS[i])
    end
  end
end
return values
"""
SCRIPTS = {hashlib.sha1(s.encode()).hexdigest(): s for s in (SET_SCRIPT, GET_SCRIPT)}
SET_SHA, GET_SHA = SCRIPTS
