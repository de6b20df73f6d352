"""The Lua scripts that keep a portal's limits in Redis, one atomic step each.

Every script reads the time from Redis ``TIME``, never from its caller: processes on
different machines then agree on when a token is due whatever their own clocks say.
Numbers go in and out as strings (``%.6f``): Redis truncates a Lua number to an integer on
the way out, and ``tostring`` keeps only 14 digits, less than a Unix time in microseconds.

Bucket: a hash ``{tokens, stamp}``; tokens = capacity - the portal's level; no key = a full
bucket, which is also what it becomes ``capacity / rate`` seconds after its last change, so
the key expires then. Budget: a hash, one field per method, holding
``"operating stamp reset pause blocked"`` (the server's figure, its server time, and three
deadlines in Redis time), expiring a window after its last write.
"""
from __future__ import annotations

_PRELUDE = """
-- Redis < 5 replicates scripts verbatim, which forbids writing after reading TIME; this
-- switches to replicating the writes themselves. Later versions always do that.
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function num(x) return string.format('%.6f', x) end
"""

#: KEYS[1] bucket; ARGV rate, capacity (burst - headroom). Refill, then take a token ('0')
#: or say how many seconds until one is due (nothing is reserved: the caller sleeps and
#: asks again).
TAKE = _PRELUDE + """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(state[1]), tonumber(state[2])
if tokens == nil or stamp == nil then tokens, stamp = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
-- A token short by less than 1e-9 still counts as whole (float rounding; as TokenBucket).
if tokens < 1 - 1e-9 then return num((1 - tokens) / rate) end
tokens = math.max(0, tokens - 1)
redis.call('HSET', KEYS[1], 'tokens', num(tokens), 'stamp', num(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return '0'
"""

#: KEYS[1] bucket; ARGV rate, capacity. The portal refused a request: its bucket is full, so
#: ours is empty from now on, for every process.
EMPTY = _PRELUDE + """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'tokens', '0', 'stamp', num(clock()))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return 1
"""

#: KEYS[1] bucket; ARGV rate, capacity. The tokens available now (read only).
PEEK = _PRELUDE + """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(state[1]), tonumber(state[2])
if tokens == nil or stamp == nil then return num(capacity) end
return num(math.min(capacity, tokens + math.max(0, clock() - stamp) * rate))
"""

_BUDGET = _PRELUDE + """
local function load(method)
  local raw = redis.call('HGET', KEYS[1], method)
  if not raw then return nil end
  local s = {}
  for x in string.gmatch(raw, '%S+') do s[#s + 1] = tonumber(x) end
  return s
end
local function save(method, s, ttl)
  redis.call('HSET', KEYS[1], method,
             table.concat({num(s[1]), num(s[2]), num(s[3]), num(s[4]), num(s[5])}, ' '))
  redis.call('PEXPIRE', KEYS[1], ttl)
end
"""

#: KEYS[1] budget; ARGV method, operating, server stamp ('' = now), seconds to the reset,
#: pause in seconds, ttl in ms. Keep the figure unless an observation newer by the server's
#: clock is already there (replies from parallel workers arrive out of order).
OBSERVE = _BUDGET + """
local now = clock()
local operating = tonumber(ARGV[2])
local stamp = tonumber(ARGV[3]) or now
local old = load(ARGV[1])
local blocked = 0
if old then
  if stamp < old[2] or (stamp == old[2] and operating < old[1]) then return 0 end
  blocked = old[5]
end
save(ARGV[1], {operating, stamp, now + tonumber(ARGV[4]), now + tonumber(ARGV[5]), blocked},
     ARGV[6])
return 1
"""

#: KEYS[1] budget; ARGV method, fallback seconds, ttl in ms. A 429: the method is blocked
#: until its known reset, or for the fallback when the reset is unknown or past.
LIMIT_HIT = _BUDGET + """
local now = clock()
local s = load(ARGV[1]) or {0, 0, 0, 0, 0}
local till = now + tonumber(ARGV[2])
if s[3] > now then till = s[3] end
if till > s[5] then s[5] = till end
save(ARGV[1], s, ARGV[3])
return 1
"""

#: KEYS[1] budget; ARGV method. Seconds to wait before sending the method (read only).
DELAY = _BUDGET + """
local s = load(ARGV[1])
if not s then return '0' end
local now = clock()
return num(math.max(0, s[4] - now, s[5] - now))
"""

#: KEYS[1] budget. {now, method, state, method, state, ...} (read only).
SNAPSHOT = _PRELUDE + """
local out = {num(clock())}
for _, x in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = x end
return out
"""
