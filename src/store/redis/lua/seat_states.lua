-- Sold and held seats of a show. ARGV: base, now. Returns {{sold...}, {held...}}.
local base = ARGV[1]
local now = now_ms(ARGV[2])
return {redis.call('SMEMBERS', base .. ':sold'), redis.call('ZRANGEBYSCORE', base .. ':held', '(' .. now, '+inf')}
