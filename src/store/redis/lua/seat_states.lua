-- Sold and held seats of a show. ARGV: base, now.
-- Returns {{sold...}, {held seat, its hold's expiry, held seat, ...}}.
local base = ARGV[1]
local now = now_ms(ARGV[2])
local held = {}
for i, value in ipairs(redis.call('ZRANGEBYSCORE', key(base, 'held'), '(' .. now, '+inf', 'WITHSCORES')) do
  held[i] = tonumber(value)
end
return {redis.call('SMEMBERS', key(base, 'sold')), held}
