-- Lanes: the last step of a laned show's admission tick, on home. Admits
-- the users read off the lanes, moves the cursor past the seqs read and drops the ranges
-- read to their end, if the cursor is still where the plan found it (else another instance
-- ticked meanwhile, and nothing happens). An admitted user's membership is copied to home,
-- where the session's scripts (claim, end_session, holds) look for it.
-- ARGV: base, now, expected cursor, new cursor, ranges done, cursor channel, show id, then
-- uid, seq pairs. Returns {cursor, admitted}, or {R.CURSOR_MOVED} when the cursor had moved.
local base = ARGV[1]
local cursor = tonumber(redis.call('GET', key(base, 'cursor')) or 0)
if cursor ~= tonumber(ARGV[3]) then return {R.CURSOR_MOVED} end
local now = now_ms(ARGV[2])
local claim_ms = tonumber(redis.call('HGET', KEYS[1], 'claim_window_s')) * 1000
local admitted = 0
for i = 8, #ARGV, 2 do
  local uid, seq = ARGV[i], ARGV[i + 1]
  redis.call('HSET', bucket_key(base, uid), uid, seq)
  admit_user(base, uid, seq, now + claim_ms)
  admitted = admitted + 1
end
cursor = tonumber(ARGV[4])
redis.call('SET', key(base, 'cursor'), cursor)
local done = tonumber(ARGV[5])
if done > 0 then redis.call('LTRIM', key(base, 'ranges'), done, -1) end
if admitted > 0 then
  redis.call('HINCRBYFLOAT', key(base, 'bucket'), 'tokens', -admitted)
  redis.call('INCRBY', key(base, 'admitted'), admitted)
  redis.call('INCRBY', key(base, 'lane_admitted'), admitted)
end
redis.call('PUBLISH', ARGV[6], ARGV[7] .. ':' .. cursor)
return {cursor, admitted}
