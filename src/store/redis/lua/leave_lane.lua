-- Lanes (work in progress): a waiting user leaves a laned show; the place's entry in its
-- block stays, and admission skips it (the membership no longer names that seq).
-- ARGV: the lane's base, now, uid. Returns the seq left, or 0 when the lane had no place.
local base, uid = ARGV[1], ARGV[3]
local bucket = bucket_key(base, uid)
local seq = tonumber(redis.call('HGET', bucket, uid))
if not seq then return 0 end
redis.call('HDEL', bucket, uid)
emit(base, E.left, uid, seq)
return seq
