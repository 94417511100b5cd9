-- Lanes: the first step of a laned show's admission tick, on home. Ends lapsed sessions,
-- refills the bucket, admits reinstated waiters (places a failover lost, given back on
-- home: their seqs are older than any range still listed) and says how many more may be
-- admitted now and where the next waiters are: the ranges at the head of `ranges`
-- (read_block.lua reads them on their lanes, admit_commit.lua admits what they hold).
-- ARGV: base, now, max batch, most ranges, lane tags. Returns {-1} without config, {-5}
-- when the show's lanes are not the caller's, else {cursor, want, expired, admitted, then
-- four numbers per range: lane, first, n, age in ms}.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('HGET', KEYS[1], 'lane_tags') ~= ARGV[5] then return {-5} end
local now = now_ms(ARGV[2])

local expired = redis.call('ZRANGEBYSCORE', key(base, 'active'), '-inf', now, 'LIMIT', 0, 500)
for _, uid in ipairs(expired) do end_session(base, uid, E.expired) end

local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second', 'paused', 'claim_window_s')
local tokens = refill(base, tonumber(cfg[2]), now)
redis.call('HSET', key(base, 'bucket'), 'tokens', tokens, 'ts', now)
local want = 0
if cfg[3] ~= '1' then
  local room = tonumber(cfg[1]) - redis.call('ZCARD', key(base, 'active'))
  want = math.max(0, math.min(math.floor(tokens), room, tonumber(ARGV[3])))
end

local admitted = 0
if want > 0 then
  local until_ms = now + tonumber(cfg[4]) * 1000
  for _, uid in ipairs(redis.call('ZRANGE', key(base, 'reinstated'), 0, want - 1)) do
    redis.call('ZREM', key(base, 'reinstated'), uid)
    redis.call('ZADD', key(base, 'active'), until_ms, uid)
    emit(base, E.admitted, uid, redis.call('HGET', bucket_key(base, uid), uid), nil, until_ms)
    admitted = admitted + 1
  end
  if admitted > 0 then
    redis.call('HINCRBYFLOAT', key(base, 'bucket'), 'tokens', -admitted)
    redis.call('INCRBY', key(base, 'admitted'), admitted)
    want = want - admitted
  end
end

local out = {tonumber(redis.call('GET', key(base, 'cursor')) or 0), want, #expired, admitted}
for _, range in ipairs(redis.call('LRANGE', key(base, 'ranges'), 0, tonumber(ARGV[4]) - 1)) do
  local lane, first, n, at = string.match(range, '^(%d+):(%d+):(%d+):(%d+)$')
  out[#out + 1] = tonumber(lane); out[#out + 1] = tonumber(first)
  out[#out + 1] = tonumber(n); out[#out + 1] = now - tonumber(at)
end
return out
