-- Give back a place Redis lost (a failover, or a rebuild from a Postgres that had not heard
-- of it yet): the user's signed queue token proves the seq. The place goes to the reinstated
-- set, which admission merges with the waiting list by seq, and is announced as a join so
-- Postgres records it.
-- ARGV: base, now, uid, seq. Returns {1} when reinstated, {0} when the user has a place,
-- {R.NO_CONFIG} without config.
local base, uid, seq = ARGV[1], ARGV[3], ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local bucket = bucket_key(base, uid)
if redis.call('HEXISTS', bucket, uid) == 1 then return {0} end
redis.call('HSET', bucket, uid, seq)
redis.call('ZADD', key(base, 'reinstated'), seq, uid)
emit(base, E.joined, uid, seq)
return {1}
