-- Is the user active? The first call after admission claims the session.
-- ARGV: base, now, uid. Returns {cursor, active_until|0}, or {-1} without config.
local base, uid = ARGV[1], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local cursor = tonumber(redis.call('GET', base .. ':cur') or 0)
local until_ms = active_until(base, uid, now)
if not until_ms then return {cursor, 0} end
return {cursor, claim(base, uid, now, until_ms)}
