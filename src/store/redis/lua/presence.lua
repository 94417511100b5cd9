-- Is the user active? The first call after admission claims the session.
-- ARGV: base, now, uid. Returns {cursor, active_until|0, waiting 1|0}, or {R.NO_CONFIG}
-- without config. Waiting: not admitted yet, though the cursor may have passed the user's seq (a
-- reinstated place).
local base, uid = ARGV[1], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local now = now_ms(ARGV[2])
local cursor = tonumber(redis.call('GET', key(base, 'cursor')) or 0)
local until_ms = active_until(base, uid, now)
if until_ms then return {cursor, claim(base, uid, now, until_ms), 0} end
local member = redis.call('HEXISTS', bucket_key(base, uid), uid) == 1
local admitted = redis.call('ZSCORE', key(base, 'active'), uid)
if member and not admitted then return {cursor, 0, 1} end
return {cursor, 0, 0}
