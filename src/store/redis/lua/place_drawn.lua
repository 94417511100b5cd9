-- Places a fair opening's drawn pre-queue: the drawing instance gave every drawn user
-- their seq (membership) and built the list of them in draw order under its attempt's
-- staging key, with plain commands (a script doing that for half a million users would
-- hold Redis for a second). This makes that list the one admission takes first, and lets
-- admission go on. A user who left meanwhile loses the drawn membership a retried attempt
-- may have given back. ARGV: base, now, attempt, n (how many were drawn).
-- Returns {1} when placed, {0} when it was placed already, {R.STAGING_INCOMPLETE} when the staging list does
-- not hold n users (a stale or broken attempt: draw again).
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
if redis.call('HEXISTS', KEYS[1], 'draw_pending') == 0 then return {0} end
local staging, n = key(base, 'drawn_staging', ARGV[3]), tonumber(ARGV[4])
if redis.call('LLEN', staging) ~= n then return {R.STAGING_INCOMPLETE} end
if n > 0 then
  redis.call('RENAME', staging, key(base, 'drawn'))
  redis.call('PERSIST', key(base, 'drawn'))
end
local draw_end = tonumber(redis.call('HGET', KEYS[1], 'draw_end'))
for _, uid in ipairs(redis.call('SMEMBERS', key(base, 'draw_left'))) do
  local bucket = bucket_key(base, uid)
  local seq = tonumber(redis.call('HGET', bucket, uid))
  if seq and seq <= draw_end then redis.call('HDEL', bucket, uid) end
end
redis.call('DEL', key(base, 'draw_left'))
redis.call('HDEL', KEYS[1], 'draw_pending')
return {1}
