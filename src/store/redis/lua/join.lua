-- Join the waiting queue, idempotently per user, for every user id in ARGV[3..], in order:
-- the service sends the joins of a show that arrive together as one call (see batch.rs).
-- ARGV: base, now, uid... Returns {R.NO_CONFIG} without config, {R.OTHER_LAYOUT} on a laned
-- show (see lanes.rs); else the seqs the holes cover, then four numbers per user:
-- {1, seq, 0, 0} for a new place (the caller knows the cursor), {0, seq, cursor,
-- active_until|0} for the place the user already has, {R.PAUSED, 0, 0, 0} while paused.
--
-- New places get consecutive seqs, go onto the waiting list in that order and are announced
-- by one 'join' event for the whole call (u: their ids, 16 bytes each; q: the first seq):
-- per join that is two commands (HGET, HSET), the rest is paid once per call.
local base = ARGV[1]
local cfg = redis.call('HMGET', KEYS[1], 'paused', 'lane_tags')
local paused = cfg[1]
if not paused then return {R.NO_CONFIG} end
if cfg[2] then return {R.OTHER_LAYOUT} end
local seq_key = key(base, 'seq')

fence_lineage(base, KEYS[1])
local last = tonumber(redis.call('GET', seq_key) or 0)
local first = last + 1
local cursor, now
local fresh, out = {}, {tonumber(redis.call('GET', key(base, 'holes_size')) or 0)}

local function add(created, seq, cur, until_ms)
  out[#out + 1] = created; out[#out + 1] = seq; out[#out + 1] = cur; out[#out + 1] = until_ms
end

for i = 3, #ARGV do
  local uid = ARGV[i]
  local bucket = bucket_key(base, uid)
  local seq = tonumber(redis.call('HGET', bucket, uid))
  local placed = false
  if seq then
    cursor = cursor or tonumber(redis.call('GET', key(base, 'cursor')) or 0)
    if seq > cursor or redis.call('ZSCORE', key(base, 'reinstated'), uid) then
      add(0, seq, cursor, 0); placed = true
    else
      now = now or now_ms(ARGV[2])
      local until_ms = active_until(base, uid, now)
      if until_ms then
        add(0, seq, cursor, claim(base, uid, now, until_ms)); placed = true
      else
        -- The session lapsed and the sweep has not run yet: end it, then join at the back.
        end_session(base, uid, E.expired)
      end
    end
  end
  if not placed then
    if paused == '1' then
      add(R.PAUSED, 0, 0, 0)
    else
      last = last + 1
      redis.call('HSET', bucket, uid, last)
      fresh[#fresh + 1] = uid
      add(1, last, 0, 0)
    end
  end
end

if #fresh > 0 then
  redis.call('SET', seq_key, last)
  redis.call('RPUSH', key(base, 'waiting'), unpack(fresh))
  emit(base, E.joined, table.concat(fresh), first)
end
return out
