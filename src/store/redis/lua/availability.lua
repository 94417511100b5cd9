-- Seats of a show not available right now. ARGV: base, now. Returns {sold, held}, or
-- {R.NO_CONFIG} when the show is not loaded.
local base = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_CONFIG} end
local now = now_ms(ARGV[2])
return {redis.call('SCARD', key(base, 'sold')), redis.call('ZCOUNT', key(base, 'held'), '(' .. now, '+inf')}
