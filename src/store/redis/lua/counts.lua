-- Queue counters for the stats endpoint.
-- ARGV: base, now. Returns {waiting, active, joined_total, admitted_total, cursor, laned},
-- or {-1} when the show is not loaded. On a laned show (laned 1) the lanes know who waits
-- and how many joined (lanes.rs adds them up).
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local function counter(name) return tonumber(redis.call('GET', key(base, name)) or 0) end
local listed = redis.call('LLEN', key(base, 'drawn')) + redis.call('LLEN', key(base, 'waiting'))
local waiting = listed - counter('left_waiting') + redis.call('ZCARD', key(base, 'reinstated'))
local active = redis.call('ZCOUNT', key(base, 'active'), '(' .. now, '+inf')
local laned = redis.call('HEXISTS', KEYS[1], 'lane_tags')
return {math.max(0, waiting), active, counter('seq') - counter('holes_size'), counter('admitted'), counter('cursor'), laned}
