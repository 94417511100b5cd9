-- Lanes (see docs/capacity.md "One show past one master"): takes the next n seqs of a laned
-- show for one lane's batch of joins, on the show's home slot.
-- ARGV: base, now, lane, n, lane tags. Returns {first}, {R.NO_CONFIG} without config, {R.PAUSED}
-- while paused, {R.OTHER_LAYOUT} when the show's lanes are not the caller's (it reads them again).
--
-- The range is noted on the show's `ranges` list (lane:first:n:ms) in seq order, which is
-- how admission finds the lanes' blocks in join order; the lane places the batch after
-- this (place.lua), so home pays one call per batch, not two commands per join.
local base = ARGV[1]
local cfg = redis.call('HMGET', KEYS[1], 'paused', 'lane_tags')
local paused = cfg[1]
if not paused then return {R.NO_CONFIG} end
if cfg[2] ~= ARGV[5] then return {R.OTHER_LAYOUT} end
if paused == '1' then return {R.PAUSED} end
fence_lineage(base, KEYS[1])
local n = tonumber(ARGV[4])
local last = redis.call('INCRBY', key(base, 'seq'), n)
local first = last - n + 1
redis.call('RPUSH', key(base, 'ranges'), table.concat({ARGV[3], first, n, now_ms(ARGV[2])}, ':'))
return {first}
