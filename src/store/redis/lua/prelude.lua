-- Shared helpers, prepended to every boxoffice script (after the key table).
--
-- Every show script gets KEYS[1] = the show's config hash, which routes the call to the
-- show's hash slot; ARGV[1] = base, the `<prefix>:{s<id>}` part that all of the show's keys
-- share; and ARGV[2] = now in ms, 0 for Redis server time. User ids are 16 raw bytes.
-- Scripts name every other key with key(base, name, ...), whose names and suffixes
-- keys.rs owns (and prepends as the table K).

-- `arg` > 0 is an injected time (tests); otherwise Redis server time, in ms.
local function now_ms(arg)
  local given = tonumber(arg)
  if given and given > 0 then return given end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The membership bucket of a user: the top 14 bits of the id, as keys.rs computes them.
local function bucket_key(base, uid)
  local b1, b2 = string.byte(uid, 1, 2)
  return key(base, 'member', string.format('%04x', math.floor((b1 * 256 + b2) / 4)))
end

local function user_holds_key(base, uid)
  local hex = string.gsub(uid, '.', function(c) return string.format('%02x', string.byte(c)) end)
  return key(base, 'user_holds', hex)
end

-- Appends a state change to the show's stream in the same script that makes it, so the
-- change and its event are atomic. The entry id says when (Redis time); the fields are the
-- kind (k) and the user (u), then whichever of seq (q), seats "1,2" (s) and an expiry in ms
-- (x) the change has. A 'join' entry may carry several users (u: their 16-byte ids one after
-- another, q: the first one's seq; the others' follow, one apart). Returns the entry's
-- time, the ms of its id: what Postgres records the change at.
local function emit(base, kind, uid, seq, seats, until_ms)
  local args = {key(base, 'events'), '*', 'k', kind, 'u', uid}
  if seq then args[#args + 1] = 'q'; args[#args + 1] = seq end
  if seats and seats ~= '' then args[#args + 1] = 's'; args[#args + 1] = seats end
  if until_ms then args[#args + 1] = 'x'; args[#args + 1] = until_ms end
  return tonumber(string.match(redis.call('XADD', unpack(args)), '^(%d+)'))
end

-- Announces a seat change on the show's seat channel for the instances' event streams:
-- kind h (held until until_ms), r (released) or s (sold), and seats "1,2". SPUBLISH keeps
-- a show's messages on its own shard; a Redis without cluster mode takes PUBLISH.
local function announce_seats(base, kind, seats, until_ms)
  if seats == nil or seats == '' then return end
  local clustered = string.find(redis.call('INFO', 'cluster'), 'cluster_enabled:1', 1, true)
  redis.call(clustered and 'SPUBLISH' or 'PUBLISH', key(base, 'seat_channel'), kind .. ':' .. (until_ms or 0) .. ':' .. seats)
end

-- A user's holds index lives as long as the longest of its holds (not as long as the
-- newest: hold_ttl_s may have been lowered since an older hold was taken).
local function expire_with_last_hold(mine, now)
  local last = redis.call('ZRANGE', mine, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIRE', mine, math.max(tonumber(last[2]) - now, 1)) end
end

-- Admits a user until `until_ms` (the claim window's end), announced with the place's seq.
local function admit_user(base, uid, seq, until_ms)
  redis.call('ZADD', key(base, 'active'), until_ms, uid)
  emit(base, E.admitted, uid, seq, nil, until_ms)
end

-- Admission passed over the place of a user who left while waiting: one fewer to skip.
local function passed_departed(base)
  if redis.call('DECR', key(base, 'left_waiting')) < 0 then redis.call('SET', key(base, 'left_waiting'), 0) end
end

-- Session expiry of an active user, or nil when the user is not (or no longer) active.
local function active_until(base, uid, now)
  local score = tonumber(redis.call('ZSCORE', key(base, 'active'), uid))
  if score and score > now then return score end
  return nil
end

-- The first request after admission turns the claim window into the full session.
local function claim(base, uid, now, until_ms)
  if redis.call('SADD', key(base, 'claimed'), uid) == 0 then return until_ms end
  local ttl_s = tonumber(redis.call('HGET', key(base, 'config'), 'session_ttl_s'))
  local session_until = now + ttl_s * 1000
  redis.call('ZADD', key(base, 'active'), session_until, uid)
  emit(base, E.claimed, uid, redis.call('HGET', bucket_key(base, uid), uid), nil, session_until)
  return session_until
end

-- Who holds the seat at `now`: the hold's owner while its end (its score in the held index)
-- is ahead. The hold key's own expiry runs on Redis' clock, which a test's injected time
-- may have passed.
local function holder(base, seat, now)
  local owner = redis.call('GET', key(base, 'hold', seat))
  local until_ms = owner and tonumber(redis.call('ZSCORE', key(base, 'held'), seat))
  if until_ms and until_ms > now then return owner end
  return nil
end

-- Drops every hold the user still owns; returns the released seats as "1,2,3".
local function release_holds(base, uid)
  local mine = user_holds_key(base, uid)
  local released = {}
  for _, seat in ipairs(redis.call('ZRANGE', mine, 0, -1)) do
    local hold = key(base, 'hold', seat)
    if redis.call('GET', hold) == uid then
      redis.call('DEL', hold)
      redis.call('ZREM', key(base, 'held'), seat)
      released[#released + 1] = seat
    end
  end
  redis.call('DEL', mine)
  local seats = table.concat(released, ',')
  announce_seats(base, SC.released, seats)
  return seats
end

-- Ends an admitted user's stay: the slot, the claim, the membership and the holds go.
local function end_session(base, uid, kind)
  local bucket = bucket_key(base, uid)
  local seq = redis.call('HGET', bucket, uid)
  redis.call('HDEL', bucket, uid)
  redis.call('ZREM', key(base, 'active'), uid)
  redis.call('SREM', key(base, 'claimed'), uid)
  emit(base, kind, uid, seq, release_holds(base, uid))
end

-- XINFO GROUPS of one consumer group as a table (name, pending, last-delivered-id, lag...),
-- or nil without the group.
local function group_info(stream, group)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == group then return info end
  end
  return nil
end

-- The replication history this master serves. A promoted replica starts a new one, so a
-- script can tell that writes the old master made may not have reached this one.
local function lineage()
  return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
end

-- On a master of another lineage than the show's (a replica promoted since), seq may have
-- lost its last increments, and those seqs may be on queue tokens: new places go behind a
-- hole of at least domain::queue::HOLE_SIZE, where presented tokens are reinstated. It ends
-- on an even multiple of it, as domain::queue::last_after_hole does for Redis (Postgres,
-- which may take over from the same seq, ends its holes on odd ones). `config` is the
-- show's config hash, which keeps the lineage its seqs were handed out under.
local HOLE_SIZE = Q.HOLE_SIZE
local function fence_lineage(base, config)
  local here = lineage()
  if redis.call('HGET', config, 'lineage') == here then return end
  redis.call('HSET', config, 'lineage', here)
  local seq_key = key(base, 'seq')
  local before = tonumber(redis.call('GET', seq_key) or 0)
  local blocks = math.ceil((before + HOLE_SIZE) / HOLE_SIZE)
  if blocks % 2 == 1 then blocks = blocks + 1 end
  local fenced = blocks * HOLE_SIZE
  redis.call('HSET', key(base, 'holes'), before + 1, fenced + 1)
  redis.call('INCRBY', key(base, 'holes_size'), fenced - before)
  redis.call('SET', seq_key, fenced)
  emit(base, E.hole, '', before + 1, nil, fenced + 1)
end

-- The admission bucket's tokens after `waited` ms at `rate` users/s: domain::queue::refill,
-- its constants generated from Rust (Q), its parity tested against it. A tenth of a
-- second's worth (BUCKET_MS) may be admitted at once (at least one user, unless the rate is
-- 0), a new bucket starts full, a late tick keeps what it earned while waiting (up to
-- LATE_TICK_CREDIT_MS) plus the fraction of a user the last tick left, and a bucket the
-- last tick left full holds what a new one does.
local function bucket_burst(rate)
  return math.max(1, rate * Q.BUCKET_MS / 1000)
end

local function bucket_tokens(tokens, waited, rate)
  if rate <= 0 then return 0 end
  local burst = bucket_burst(rate)
  tokens = tokens or burst
  if tokens >= burst then return burst end
  waited = math.max(0, waited)
  local late_credit = 1 + math.min(waited, Q.LATE_TICK_CREDIT_MS) * rate / 1000
  return math.min(math.max(burst, late_credit), tokens + waited * rate / 1000)
end

-- domain::queue::bucket_full: a store may drop a full bucket once nobody waits.
local function bucket_full(tokens, rate)
  return rate <= 0 or tokens >= bucket_burst(rate)
end

-- The show's bucket at `now`.
local function refill(base, rate, now)
  local state = redis.call('HMGET', key(base, 'bucket'), 'tokens', 'ts')
  return bucket_tokens(tonumber(state[1]), now - (tonumber(state[2]) or now), rate)
end

-- The bucket is kept while someone waits, or while it refills; once nobody waits and it is
-- full it goes (so a tick with nobody in line writes nothing), and the next waiter finds a
-- new bucket, full: what the kept one would have held (see domain::queue::refill).
local function keep_bucket(base, waiting, tokens, rate, now)
  if waiting or not bucket_full(tokens, rate) then
    redis.call('HSET', key(base, 'bucket'), 'tokens', tokens, 'ts', now)
  elseif redis.call('EXISTS', key(base, 'bucket')) == 1 then
    redis.call('DEL', key(base, 'bucket'))
  end
end
