-- Leave the queue, or give the active slot back at once.
-- ARGV: base, now, uid. Returns 1, or 0 when the user was in neither.
-- A waiter's list entry stays until admission pops it and sees the membership is gone;
-- removing it now would be an O(n) LREM.
local base, uid = ARGV[1], ARGV[3]
local bucket = bucket_key(base, uid)
local seq = tonumber(redis.call('HGET', bucket, uid))
if not seq then return 0 end
if redis.call('ZREM', key(base, 'reinstated'), uid) == 1 then
  redis.call('HDEL', bucket, uid)
  emit(base, 'leave', uid, seq)
elseif seq > tonumber(redis.call('GET', key(base, 'cursor')) or 0) then
  redis.call('HDEL', bucket, uid)
  redis.call('INCR', key(base, 'left_waiting'))
  emit(base, 'leave', uid, seq)
else
  end_session(base, uid, 'leave')
end
return 1
