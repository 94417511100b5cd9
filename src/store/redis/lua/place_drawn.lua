-- Places drawn users: ARGV: base, now, first seq, then the users of seqs first, first + 1,
-- ... The chunks go from the last seq down (each is pushed onto the front of the waiting
-- list, before the late joiners), so a chunk is taken only when it ends where the placed
-- ones begin: a chunk sent again changes nothing. The chunk that reaches the first drawn
-- seq lets admission go on. Returns {1} when placed, {0} when it was placed already.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local placed_from = tonumber(redis.call('HGET', KEYS[1], 'draw_next') or 0)
local first = tonumber(ARGV[3])
if first + (#ARGV - 3) ~= placed_from then return {0} end
local reversed = {}
for i = #ARGV, 4, -1 do
  local uid = ARGV[i]
  redis.call('HSET', bucket_key(base, uid), uid, first + i - 4)
  reversed[#reversed + 1] = uid
end
-- One LPUSH of the chunk from its last user to its first leaves the first in front.
if #reversed > 0 then redis.call('LPUSH', key(base, 'waiting'), unpack(reversed)) end
redis.call('HSET', KEYS[1], 'draw_next', first)
if first == tonumber(redis.call('HGET', KEYS[1], 'draw_base')) + 1 then
  redis.call('HDEL', KEYS[1], 'draw_pending')
end
return {1}
