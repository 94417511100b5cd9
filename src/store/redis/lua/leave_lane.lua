-- Lanes: a user leaves a laned show's lane; the place's entry in its block stays, and
-- admission skips it (the membership no longer names that seq).
-- ARGV: the lane's base, now, uid, home's cursor, the seq of the place home just ended (and
-- announced the leave of), 0 for none: a user whose session lapsed and who joined again
-- has a newer waiting place on the lane. Returns the seq of the waiting place left, or 0.
-- A place the cursor passed was admitted (or passed over): its session is home's business,
-- so the lane only forgets it.
local base, uid = ARGV[1], ARGV[3]
local bucket = bucket_key(base, uid)
local seq = tonumber(redis.call('HGET', bucket, uid))
if not seq then return 0 end
redis.call('HDEL', bucket, uid)
if seq <= tonumber(ARGV[4]) or seq == tonumber(ARGV[5]) then return 0 end
redis.call('INCR', key(base, 'left_waiting'))
emit(base, E.left, uid, seq)
return seq
