-- Lanes: the first step of a laned show's admission tick, on home. Ends lapsed sessions,
-- refills the bucket, admits reinstated waiters (places a failover lost, given back on
-- home: their seqs are older than any range still listed) and a fair opening's drawn, and
-- says how many more may be admitted now and where the next waiters are: the ranges at the
-- head of `ranges` (read_block.lua reads them on their lanes, admit_commit.lua admits what
-- they hold).
-- ARGV: base, now, max batch, most ranges, lane tags, cursor channel, show id. Returns
-- {R.NO_CONFIG} without config, {R.OTHER_LAYOUT} when the show's lanes are not the caller's, else {cursor,
-- want, expired, admitted, 1 when someone is still waiting or active else 0, then four
-- numbers per range: lane, first, n, age in ms}.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
if redis.call('HGET', KEYS[1], 'lane_tags') ~= ARGV[5] then return {R.OTHER_LAYOUT} end
local now = now_ms(ARGV[2])

local expired = redis.call('ZRANGEBYSCORE', key(base, 'active'), '-inf', now, 'LIMIT', 0, 500)
for _, uid in ipairs(expired) do end_session(base, uid, E.expired) end

local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second', 'paused', 'claim_window_s',
  'draw_pending', 'draw_base')
local tokens = refill(base, tonumber(cfg[2]), now)
local want = 0
-- Paused, or the drawn pre-queue is still being placed ahead of everyone (close_draw.lua).
if cfg[3] ~= '1' and not cfg[5] then
  local room = tonumber(cfg[1]) - redis.call('ZCARD', key(base, 'active'))
  want = math.max(0, math.min(math.floor(tokens), room, tonumber(ARGV[3])))
end
local until_ms = now + tonumber(cfg[4]) * 1000
local cursor = tonumber(redis.call('GET', key(base, 'cursor')) or 0)
local admitted = 0

local function admit(uid, seq)
  admit_user(base, uid, seq, until_ms)
  admitted = admitted + 1
end

for _, uid in ipairs(want > 0 and redis.call('ZRANGE', key(base, 'reinstated'), 0, want - 1) or {}) do
  redis.call('ZREM', key(base, 'reinstated'), uid)
  admit(uid, redis.call('HGET', bucket_key(base, uid), uid))
end

-- A fair opening's drawn pre-queue (place_drawn): on home, in draw order, once the ranges
-- of any join before the opening are done. Their memberships are on home too (a drawn fan
-- who left has none).
local head = redis.call('LINDEX', key(base, 'ranges'), 0)
local head_first = head and tonumber(string.match(head, '^%d+:(%d+):'))
local draw_base = tonumber(cfg[6])
if draw_base and not (head_first and head_first <= draw_base) then
  local popped = 0
  while admitted < want and popped < want + 1000 do
    local uid = redis.call('LPOP', key(base, 'drawn'))
    if not uid then break end
    popped = popped + 1
    cursor = math.max(cursor, draw_base) + 1
    if tonumber(redis.call('HGET', bucket_key(base, uid), uid)) == cursor then
      admit(uid, cursor)
    else
      passed_departed(base)
    end
  end
  if popped > 0 then
    redis.call('SET', key(base, 'cursor'), cursor)
    redis.call('PUBLISH', ARGV[6], ARGV[7] .. ':' .. cursor)
  end
end
if admitted > 0 then
  tokens = tokens - admitted
  redis.call('INCRBY', key(base, 'admitted'), admitted)
  want = want - admitted
end
local ranges = redis.call('LRANGE', key(base, 'ranges'), 0, tonumber(ARGV[4]) - 1)
local waiting = #ranges > 0 or redis.call('EXISTS', key(base, 'drawn')) == 1
  or redis.call('EXISTS', key(base, 'reinstated')) == 1
keep_bucket(base, waiting, tokens, tonumber(cfg[2]), now)
local busy = (waiting or redis.call('ZCARD', key(base, 'active')) > 0) and 1 or 0

local out = {cursor, want, #expired, admitted, busy}
for _, range in ipairs(ranges) do
  local lane, first, n, at = string.match(range, '^(%d+):(%d+):(%d+):(%d+)$')
  out[#out + 1] = tonumber(lane); out[#out + 1] = tonumber(first)
  out[#out + 1] = tonumber(n); out[#out + 1] = now - tonumber(at)
end
return out
