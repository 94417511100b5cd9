-- Join the waiting queue, idempotently per user.
-- ARGV: base, now, uid. Returns {1, seq, -1, 0} for a new place (the caller knows the
-- cursor), {0, seq, cursor, active_until|0} for the place the user already has, {-1} without
-- config, {-2} paused. A new join is six commands; it is the hottest path of an on-sale.
local base, uid = ARGV[1], ARGV[3]
local paused = redis.call('HGET', KEYS[1], 'paused')
if not paused then return {-1} end
local bucket = bucket_key(base, uid)
local seq = tonumber(redis.call('HGET', bucket, uid))
if seq then
  local cursor = tonumber(redis.call('GET', base .. ':cur') or 0)
  if seq > cursor then return {0, seq, cursor, 0} end
  local now = now_ms(ARGV[2])
  local until_ms = active_until(base, uid, now)
  if until_ms then return {0, seq, cursor, claim(base, uid, now, until_ms)} end
  -- The session lapsed and the sweep has not run yet: end it, then join at the back.
  end_session(base, uid, 'expire')
end
if paused == '1' then return {-2} end
seq = redis.call('INCR', base .. ':seq')
redis.call('RPUSH', base .. ':wait', uid)
redis.call('HSET', bucket, uid, seq)
emit(base, 'join', uid, seq)
return {1, seq, -1, 0}
