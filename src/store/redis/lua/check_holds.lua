-- Before a sale: is every seat still held by this user, and none known sold? If so, the
-- holds are kept for at least keep_ms, so none can lapse and go to someone else while the
-- sale commits in Postgres (a buyer confirming in a hold's last second must not take a
-- seat that another user holds by then).
-- ARGV: base, now, uid, keep_ms, seats... Returns {0}, {1, sold seats...} or {2, seats not held...}.
local base, uid, keep_ms = ARGV[1], ARGV[3], tonumber(ARGV[4])
local now = now_ms(ARGV[2])
local sold, missing, seats = {}, {}, {}
for i = 5, #ARGV do
  local seat = ARGV[i]
  seats[#seats + 1] = seat
  if redis.call('SISMEMBER', key(base, 'sold'), seat) == 1 then
    sold[#sold + 1] = tonumber(seat)
  elseif holder(base, seat, now) ~= uid then
    missing[#missing + 1] = tonumber(seat)
  end
end
if #sold > 0 then return {1, unpack(sold)} end
if #missing > 0 then return {2, unpack(missing)} end

local mine = user_holds_key(base, uid)
for _, seat in ipairs(seats) do
  local hold = key(base, 'hold', seat)
  local left_ms = tonumber(redis.call('ZSCORE', key(base, 'held'), seat)) - now
  if math.min(redis.call('PTTL', hold), left_ms) < keep_ms then
    redis.call('PEXPIRE', hold, keep_ms)
    redis.call('ZADD', key(base, 'held'), now + keep_ms, seat)
    redis.call('ZADD', mine, now + keep_ms, seat)
  end
end
expire_with_last_hold(mine, now)
return {0}
