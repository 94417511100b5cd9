-- Lanes (see docs/capacity.md "One show past one master"): places one lane's batch of joins in the range home reserved for it (reserve.lua), on the lane's slot.
-- ARGV: the lane's base, now, first, uid... Returns {R.FENCED_OFF} when admission fenced the range
-- off (its block is there already: the batch takes a new range), else two numbers per
-- user: {1, seq} for a new place, {0, seq} for the place the user had.
--
-- The block `block:<first>` holds the range's users, 16 bytes each, a zero id where the
-- user had a place already (admission skips it like a departed one). It is written with
-- the memberships in one script, so a failover keeps both or neither.
local base, first = ARGV[1], tonumber(ARGV[3])
local block = key(base, 'block', first)
if redis.call('EXISTS', block) == 1 then return {R.FENCED_OFF} end
local NO_ONE = string.rep('\0', 16)
local ids, out, created = {}, {}, 0
for i = 4, #ARGV do
  local uid = ARGV[i]
  local bucket = bucket_key(base, uid)
  local had = tonumber(redis.call('HGET', bucket, uid))
  if had then
    ids[#ids + 1] = NO_ONE
    out[#out + 1] = 0; out[#out + 1] = had
  else
    local seq = first + i - 4
    redis.call('HSET', bucket, uid, seq)
    created = created + 1
    ids[#ids + 1] = uid
    out[#out + 1] = 1; out[#out + 1] = seq
  end
end
local placed = table.concat(ids)
redis.call('SET', block, placed)
redis.call('INCRBY', key(base, 'placed'), created)
emit(base, E.joined, placed, first)
return out
