-- Join the waiting queue, idempotently per user.
-- ARGV: base, now, uid. Returns {1, seq, cursor, 0} for a new place, {0, seq, cursor,
-- active_until|0} for the place the user already has, {-1} without config, {-2} paused.
local base, uid = ARGV[1], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local bucket = bucket_key(base, uid)
local cursor = tonumber(redis.call('GET', base .. ':cur') or 0)
local seq = tonumber(redis.call('HGET', bucket, uid))
if seq then
  if seq > cursor then return {0, seq, cursor, 0} end
  local until_ms = active_until(base, uid, now)
  if until_ms then return {0, seq, cursor, claim(base, uid, now, until_ms)} end
  -- The session lapsed and the sweep has not run yet: end it, then join at the back.
  end_session(base, uid, now, 'expire')
end
if redis.call('HGET', KEYS[1], 'paused') == '1' then return {-2} end
seq = redis.call('INCR', base .. ':seq')
redis.call('RPUSH', base .. ':wait', uid)
redis.call('HSET', bucket, uid, seq)
emit(base, now, 'join', uid, seq, '', 0)
return {1, seq, cursor, 0}
