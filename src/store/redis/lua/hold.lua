-- Hold seats for active users: for each request, every requested seat or none. The service
-- sends the hold requests of a show that arrive together as one call (see batch.rs); they
-- are decided one after another, in order, exactly as separate calls would be.
-- ARGV: base, now, then per request: uid, number of seats, seat ids...
-- Returns {R.NO_CONFIG} without config; else per request a code, a count n and n values:
-- {1, 2, expires_at, recorded_at}, {0, n, unavailable seats...}, {R.NOT_ACTIVE, 0} not
-- active, {R.OVER_LIMIT, 1, limit} over the per-user limit.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local now = now_ms(ARGV[2])
local cfg = redis.call('HMGET', KEYS[1], 'hold_ttl_s', 'max_seats_per_user')
local ttl_ms, limit = tonumber(cfg[1]) * 1000, tonumber(cfg[2])

-- Seats the user holds now, by their own index.
local function live_holds(uid, mine)
  local live = 0
  for _, seat in ipairs(redis.call('ZRANGEBYSCORE', mine, '(' .. now, '+inf')) do
    if holder(base, seat, now) == uid then live = live + 1 end
  end
  return live
end

local function hold(uid, seats)
  local until_ms = active_until(base, uid, now)
  if not until_ms then return {R.NOT_ACTIVE} end
  claim(base, uid, now, until_ms)

  local unavailable, fresh = {}, {}
  for _, seat in ipairs(seats) do
    local owner = holder(base, seat, now)
    if redis.call('SISMEMBER', key(base, 'sold'), seat) == 1 or (owner and owner ~= uid) then
      unavailable[#unavailable + 1] = tonumber(seat)
    elseif not owner then
      fresh[#fresh + 1] = seat
    end
  end
  if #unavailable > 0 then return {0, unpack(unavailable)} end

  local mine = user_holds_key(base, uid)
  if live_holds(uid, mine) + #fresh > limit then return {R.OVER_LIMIT, limit} end

  local expires_at = now + ttl_ms
  for _, seat in ipairs(seats) do
    local hold_key = key(base, 'hold', seat)
    -- Checked free (or ours) above in this same atomic script; NX/XX say so again.
    if redis.call('SET', hold_key, uid, 'PX', ttl_ms, 'NX') == false then
      redis.call('SET', hold_key, uid, 'PX', ttl_ms, 'XX')
    end
    redis.call('ZADD', key(base, 'held'), expires_at, seat)
    redis.call('ZADD', mine, expires_at, seat)
  end
  redis.call('ZREMRANGEBYSCORE', mine, '-inf', now)
  expire_with_last_hold(mine, now)
  local recorded_at = emit(base, E.held, uid, nil, table.concat(seats, ','), expires_at)
  announce_seats(base, SC.held, table.concat(seats, ','), expires_at)
  return {1, expires_at, recorded_at}
end

local out, i = {}, 3
while i <= #ARGV do
  local uid, count = ARGV[i], tonumber(ARGV[i + 1])
  local seats = {}
  for j = 1, count do seats[j] = ARGV[i + 1 + j] end
  i = i + 2 + count
  local result = hold(uid, seats)
  out[#out + 1] = result[1]
  out[#out + 1] = #result - 1
  for k = 2, #result do out[#out + 1] = result[k] end
end
return out
