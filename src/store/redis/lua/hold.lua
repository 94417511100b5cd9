-- Hold every requested seat for an active user, or none.
-- ARGV: base, now, uid, seat ids... Returns {1, expires_at}, {0, unavailable seats...},
-- {-1} without config, {-3} not active, {-4, limit} over the per-user limit.
local base, uid = ARGV[1], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local until_ms = active_until(base, uid, now)
if not until_ms then return {-3} end
claim(base, uid, now, until_ms)

local unavailable, fresh, seats = {}, {}, {}
for i = 4, #ARGV do
  local seat = ARGV[i]
  seats[#seats + 1] = seat
  local owner = redis.call('GET', base .. ':h:' .. seat)
  if redis.call('SISMEMBER', base .. ':sold', seat) == 1 or (owner and owner ~= uid) then
    unavailable[#unavailable + 1] = tonumber(seat)
  elseif not owner then
    fresh[#fresh + 1] = seat
  end
end
if #unavailable > 0 then return {0, unpack(unavailable)} end

local cfg = redis.call('HMGET', KEYS[1], 'hold_ttl_s', 'max_seats_per_user')
local ttl_ms, limit = tonumber(cfg[1]) * 1000, tonumber(cfg[2])
local mine = user_holds_key(base, uid)
local live = 0
for _, seat in ipairs(redis.call('ZRANGEBYSCORE', mine, '(' .. now, '+inf')) do
  if redis.call('GET', base .. ':h:' .. seat) == uid then live = live + 1 end
end
if live + #fresh > limit then return {-4, limit} end

local expires_at = now + ttl_ms
for _, seat in ipairs(seats) do
  local hold = base .. ':h:' .. seat
  -- Checked free (or ours) above in this same atomic script; NX/XX say so again.
  if redis.call('SET', hold, uid, 'PX', ttl_ms, 'NX') == false then
    redis.call('SET', hold, uid, 'PX', ttl_ms, 'XX')
  end
  redis.call('ZADD', base .. ':held', expires_at, seat)
  redis.call('ZADD', mine, expires_at, seat)
end
redis.call('ZREMRANGEBYSCORE', mine, '-inf', now)
expire_with_last_hold(mine, now)
emit(base, 'hold', uid, nil, table.concat(seats, ','), expires_at)
return {1, expires_at}
