-- Write a show's queue settings (their presence tells the other scripts the show is loaded).
-- ARGV: base, now, then field, value pairs. A config written afresh starts the show's
-- lineage on this master (see join.lua); a change keeps the lineage it has.
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSETNX', KEYS[1], 'lineage', lineage())
return 1
