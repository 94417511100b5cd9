-- Leave the queue, or give the active slot back at once.
-- ARGV: base, now, uid. Returns {1, cursor, seq of the place left}, or {0, cursor} when the
-- user was in neither, or
-- {R.OTHER_LAYOUT, cursor} when not here on a laned show (a waiting place is on its lane, lanes.rs).
-- A waiter's list entry stays until admission pops it and sees the membership is gone;
-- removing it now would be an O(n) LREM. A drawn user leaving while the draw is placed is
-- noted, so that a retried placement can't give the place back (place_drawn.lua).
local base, uid = ARGV[1], ARGV[3]
local bucket = bucket_key(base, uid)
local seq = tonumber(redis.call('HGET', bucket, uid))
local cursor = tonumber(redis.call('GET', key(base, 'cursor')) or 0)
if not seq then
  if redis.call('HEXISTS', KEYS[1], 'lane_tags') == 1 then return {R.OTHER_LAYOUT, cursor} end
  return {0, cursor}
end
if redis.call('ZREM', key(base, 'reinstated'), uid) == 1 then
  redis.call('HDEL', bucket, uid)
  emit(base, E.left, uid, seq)
elseif seq > cursor then
  redis.call('HDEL', bucket, uid)
  redis.call('INCR', key(base, 'left_waiting'))
  local draw = redis.call('HMGET', KEYS[1], 'draw_pending', 'draw_end')
  if draw[1] and seq <= tonumber(draw[2]) then redis.call('SADD', key(base, 'draw_left'), uid) end
  emit(base, E.left, uid, seq)
else
  end_session(base, uid, E.left)
end
return {1, cursor, seq}
