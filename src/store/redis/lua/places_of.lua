-- Lanes: the seq of each user's place on this lane, 0 for none, so that a batch of joins
-- takes seqs from home only for users without one (a fan joining again takes none).
-- ARGV: the lane's base, now, uid...
local base, out = ARGV[1], {}
for i = 3, #ARGV do
  out[#out + 1] = tonumber(redis.call('HGET', bucket_key(base, ARGV[i]), ARGV[i]) or 0)
end
return out
