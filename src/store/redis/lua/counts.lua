-- Queue counters for the stats endpoint.
-- ARGV: base, now. Returns {waiting, active, joined_total, admitted_total, cursor, laned
-- off lanes}, or {-1} when the show is not loaded. The last is -1 on one slot; on a laned
-- show it is how many were admitted off the lanes, whose own counters say the rest of who
-- waits (lanes.rs adds them up).
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local function counter(name) return tonumber(redis.call('GET', key(base, name)) or 0) end
local listed = redis.call('LLEN', key(base, 'drawn')) + redis.call('LLEN', key(base, 'waiting'))
local waiting = listed - counter('left_waiting') + redis.call('ZCARD', key(base, 'reinstated'))
local active = redis.call('ZCOUNT', key(base, 'active'), '(' .. now, '+inf')
local off_lanes = redis.call('HEXISTS', KEYS[1], 'lane_tags') == 1 and counter('lane_admitted') or -1
return {math.max(0, waiting), active, counter('seq') - counter('holes_size'), counter('admitted'), counter('cursor'), off_lanes}
