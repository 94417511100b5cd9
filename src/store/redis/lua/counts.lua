-- Queue counters for the stats endpoint.
-- ARGV: base, now. Returns {waiting, active, joined_total, admitted_total, cursor}, and on a
-- laned show how many were admitted off the lanes, whose own counters say the rest of who
-- waits (lanes.rs adds them up); {R.NO_CONFIG} when the show is not loaded.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local now = now_ms(ARGV[2])
local function counter(name) return tonumber(redis.call('GET', key(base, name)) or 0) end
local listed = redis.call('LLEN', key(base, 'drawn')) + redis.call('LLEN', key(base, 'waiting'))
local waiting = listed - counter('left_waiting') + redis.call('ZCARD', key(base, 'reinstated'))
local active = redis.call('ZCOUNT', key(base, 'active'), '(' .. now, '+inf')
local out = {math.max(0, waiting), active, counter('seq') - counter('holes_size'), counter('admitted'), counter('cursor')}
if redis.call('HEXISTS', KEYS[1], 'lane_tags') == 1 then out[#out + 1] = counter('lane_admitted') end
return out
