-- Lanes (work in progress): the first step of a laned show's admission tick, on home. Ends
-- lapsed sessions, refills the bucket and says how many may be admitted now and where the
-- next waiters are: the ranges at the head of `ranges` (read_block.lua reads them on their
-- lanes, admit_commit.lua admits what they hold).
-- ARGV: base, now, max batch, most ranges. Returns {-1} without config, else
-- {cursor, want, expired, then four numbers per range: lane, first, n, age in ms}.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])

local expired = redis.call('ZRANGEBYSCORE', key(base, 'active'), '-inf', now, 'LIMIT', 0, 500)
for _, uid in ipairs(expired) do end_session(base, uid, E.expired) end

local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second', 'paused')
local tokens = refill(base, tonumber(cfg[2]), now)
redis.call('HSET', key(base, 'bucket'), 'tokens', tokens, 'ts', now)
local want = 0
if cfg[3] ~= '1' then
  local room = tonumber(cfg[1]) - redis.call('ZCARD', key(base, 'active'))
  want = math.max(0, math.min(math.floor(tokens), room, tonumber(ARGV[3])))
end

local out = {tonumber(redis.call('GET', key(base, 'cursor')) or 0), want, #expired}
for _, range in ipairs(redis.call('LRANGE', key(base, 'ranges'), 0, tonumber(ARGV[4]) - 1)) do
  local lane, first, n, at = string.match(range, '^(%d+):(%d+):(%d+):(%d+)$')
  out[#out + 1] = tonumber(lane); out[#out + 1] = tonumber(first)
  out[#out + 1] = tonumber(n); out[#out + 1] = now - tonumber(at)
end
return out
