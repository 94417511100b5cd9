-- Write a show's queue settings (their presence tells the other scripts the show is loaded).
-- ARGV: base, now, the lane tags ('' for one lane, else comma-separated), then field, value
-- pairs. A config written afresh starts the show's lineage on this master (see join.lua); a
-- change keeps the lineage it has.
--
-- The lanes are the show's layout: they are set only while no seq was handed out (a show
-- rebuilt from Postgres keeps one lane). Returns 1, or 0 when the layout was kept.
local base = ARGV[1]
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSETNX', KEYS[1], 'lineage', lineage())
if (redis.call('HGET', KEYS[1], 'lane_tags') or '') == ARGV[3] then return 1 end
if tonumber(redis.call('GET', key(base, 'seq')) or 0) ~= 0 then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'lane_tags') else redis.call('HSET', KEYS[1], 'lane_tags', ARGV[3]) end
return 1
