-- Take or renew the write-behind lease of a show: one instance drains a show's stream at a
-- time, so its events reach Postgres in stream order.
-- KEYS[1] = the lease; ARGV: owner, ttl ms. Returns 1 when the caller holds the lease.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
