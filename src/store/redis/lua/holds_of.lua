-- The user's live holds. ARGV: base, now, uid. Returns {seat, expires_at, seat, ...}.
local base, uid = ARGV[1], ARGV[3]
local now = now_ms(ARGV[2])
local entries = redis.call('ZRANGEBYSCORE', user_holds_key(base, uid), '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  if holder(base, entries[i], now) == uid then
    out[#out + 1] = tonumber(entries[i])
    out[#out + 1] = tonumber(entries[i + 1])
  end
end
return out
