-- Lanes: the second step of a laned show's admission tick, on a lane.
-- Reads one range's block from seq `from` on: the users still waiting there (their
-- membership on the lane still names that seq), up to `want` of them.
-- ARGV: the lane's base, now, first, n, from, want, fence (1: the range is older than the
-- fence time), how long to keep a block read to its end (ms). Returns {status, last seq
-- read, {uid...}, {seq...}}; status 1 read, 0 not placed yet (admission waits for it), 2
-- fenced off: never placed, and now it can't be (an empty block, which place.lua refuses;
-- that batch takes a new range). Decoded as reply::ReadBlockReply.
local base = ARGV[1]
local first, n, from, want = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local block = key(base, 'block', first)
local placed = redis.call('GET', block)
if not placed then
  if ARGV[7] ~= '1' then return {0, from - 1, {}, {}} end
  redis.call('SET', block, '')
  return {2, first + n - 1, {}, {}}
end
local users, seqs = {}, {}
local seq, last = from, first + n - 1
while seq <= last and #users < want do
  local offset = (seq - first) * 16
  local uid = string.sub(placed, offset + 1, offset + 16)
  if #uid == 16 and tonumber(redis.call('HGET', bucket_key(base, uid), uid)) == seq then
    users[#users + 1] = uid
    seqs[#seqs + 1] = seq
  end
  seq = seq + 1
end
-- Read to its end, the block is kept a while for a tick whose commit lost to another's, or
-- failed, and is read again (see lanes.rs BLOCK_KEPT_MS).
if seq > last then redis.call('PEXPIRE', block, ARGV[8]) end
return {1, seq - 1, users, seqs}
