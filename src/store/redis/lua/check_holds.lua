-- Before a sale: is every seat still held by this user, and none known sold?
-- ARGV: base, now, uid, seats... Returns {0}, {1, sold seats...} or {2, seats not held...}.
local base, uid = ARGV[1], ARGV[3]
local sold, missing = {}, {}
for i = 4, #ARGV do
  local seat = ARGV[i]
  if redis.call('SISMEMBER', base .. ':sold', seat) == 1 then
    sold[#sold + 1] = tonumber(seat)
  elseif redis.call('GET', base .. ':h:' .. seat) ~= uid then
    missing[#missing + 1] = tonumber(seat)
  end
end
if #sold > 0 then return {1, unpack(sold)} end
if #missing > 0 then return {2, unpack(missing)} end
return {0}
