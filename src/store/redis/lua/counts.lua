-- Queue counters for the stats endpoint.
-- ARGV: base, now. Returns {waiting, active, joined_total, admitted_total, cursor}, or {-1}
-- when the show is not loaded.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local now = now_ms(ARGV[2])
local function counter(suffix) return tonumber(redis.call('GET', base .. suffix) or 0) end
local waiting = redis.call('LLEN', base .. ':wait') - counter(':leftw') + redis.call('ZCARD', base .. ':reinst')
local active = redis.call('ZCOUNT', base .. ':act', '(' .. now, '+inf')
return {math.max(0, waiting), active, counter(':seq') - counter(':holesz'), counter(':adm'), counter(':cur')}
