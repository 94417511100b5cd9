-- Closes a show's pre-queue of n users for the draw: the next n seqs, up to draw_end, are
-- theirs (placed by place_drawn.lua); users who join from now on get seqs after a hole, as
-- large as domain::queue::HOLE_SIZE, that starts right after those n, so their positions
-- count the drawn ahead of them at once. Admission waits until the drawn are placed.
-- ARGV: base, now, n. Returns {base}: the drawn get base + 1 .. base + n, or
-- {R.NO_CONFIG} without config. Idempotent.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local known = redis.call('HGET', KEYS[1], 'draw_base')
if known then return {tonumber(known)} end
local n = tonumber(ARGV[3])
local before = tonumber(redis.call('GET', key(base, 'seq')) or 0)
if n < HOLE_SIZE then
  redis.call('HSET', key(base, 'holes'), before + 1 + n, before + 1 + HOLE_SIZE)
  redis.call('INCRBY', key(base, 'holes_size'), HOLE_SIZE - n)
  emit(base, E.hole, '', before + 1 + n, nil, before + 1 + HOLE_SIZE)
end
redis.call('SET', key(base, 'seq'), before + math.max(n, HOLE_SIZE))
redis.call('HSET', KEYS[1], 'draw_base', before, 'draw_pending', 1, 'draw_end', before + n)
return {before}
