-- Lanes: a lane forgets the place of a user who was admitted and whose
-- session ended since (home knows that, the lane doesn't), so that the user can join again.
-- ARGV: the lane's base, now, uid, seq. Returns 1 when forgotten, 0 when the lane's
-- membership names another seq (a newer place: nothing to do).
local base, uid = ARGV[1], ARGV[3]
local bucket = bucket_key(base, uid)
if redis.call('HGET', bucket, uid) ~= ARGV[4] then return 0 end
redis.call('HDEL', bucket, uid)
return 1
