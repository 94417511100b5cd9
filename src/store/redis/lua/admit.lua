-- One admission tick: end lapsed sessions, then admit waiters in join order.
-- ARGV: base, now, cursor channel, show id, max batch.
-- Returns {cursor, admitted, expired, seqs the holes cover, 1 when someone is still waiting
-- or active else 0}, {R.NO_CONFIG} without config, {R.OTHER_LAYOUT} on a laned show (see lanes.rs).
--
-- The rate is a token bucket kept in Redis and refilled from Redis time, so however many
-- instances tick, the show is admitted at `admit_per_second` in total, not N times it.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
if redis.call('HEXISTS', KEYS[1], 'lane_tags') == 1 then return {R.OTHER_LAYOUT} end
local now = now_ms(ARGV[2])

local expired = redis.call('ZRANGEBYSCORE', key(base, 'active'), '-inf', now, 'LIMIT', 0, 500)
for _, uid in ipairs(expired) do end_session(base, uid, E.expired) end

local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second', 'paused', 'claim_window_s', 'draw_pending', 'draw_base')
local draw_base = tonumber(cfg[6])
local max_active, rate, claim_ms = tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[4]) * 1000
local tokens = refill(base, rate, now)

local cursor = tonumber(redis.call('GET', key(base, 'cursor')) or 0)
local admitted, popped = 0, 0

local function nothing_listed()
  return redis.call('LLEN', key(base, 'drawn')) + redis.call('LLEN', key(base, 'waiting')) == 0
end

local function admit(uid)
  admit_user(base, uid, redis.call('HGET', bucket_key(base, uid), uid), now + claim_ms)
  admitted = admitted + 1
end

-- Paused, or the drawn pre-queue is still being placed ahead of everyone (close_draw.lua).
if cfg[3] ~= '1' and not cfg[5] then
  local room = max_active - redis.call('ZCARD', key(base, 'active'))
  local want = math.min(math.floor(tokens), room, tonumber(ARGV[5]))
  -- The lists hold one entry for every seq after the cursor outside the holes, so the next
  -- entry's seq is known without reading it: the waiting list's seqs up to draw_base (a
  -- join that raced the opening's setting), then the drawn pre-queue's, then the waiting
  -- list's again. Reinstated waiters (not on a list) go first when their seq is lower.
  -- Entries of users who left are skipped; the bound keeps one call short.
  while admitted < want and popped < want + 1000 do
    local next_seq = cursor + 1
    local skip = redis.call('HGET', key(base, 'holes'), next_seq)
    while skip do
      next_seq = tonumber(skip)
      skip = redis.call('HGET', key(base, 'holes'), next_seq)
    end
    local first = redis.call('ZRANGE', key(base, 'reinstated'), 0, 0, 'WITHSCORES')
    if first[1] and (tonumber(first[2]) < next_seq or nothing_listed()) then
      redis.call('ZREM', key(base, 'reinstated'), first[1])
      admit(first[1])
    else
      local drawn_next = draw_base and next_seq > draw_base
      local uid = drawn_next and redis.call('LPOP', key(base, 'drawn')) or redis.call('LPOP', key(base, 'waiting'))
      if not uid then break end
      popped = popped + 1
      cursor = next_seq
      if tonumber(redis.call('HGET', bucket_key(base, uid), uid)) == cursor then
        admit(uid)
      else
        passed_departed(base)
      end
    end
  end
  tokens = tokens - admitted
  if popped > 0 then redis.call('SET', key(base, 'cursor'), cursor) end
end
local waiting = not nothing_listed() or redis.call('EXISTS', key(base, 'reinstated')) == 1
keep_bucket(base, waiting, tokens, rate, now)
if admitted > 0 then redis.call('INCRBY', key(base, 'admitted'), admitted) end
if popped > 0 then redis.call('PUBLISH', ARGV[3], ARGV[4] .. ':' .. cursor) end
local busy = (waiting or redis.call('ZCARD', key(base, 'active')) > 0) and 1 or 0
return {cursor, admitted, #expired, tonumber(redis.call('GET', key(base, 'holes_size')) or 0), busy}
