-- Trim the stream below its oldest unacknowledged entry, never past it.
-- KEYS[1] = stream; ARGV[1] = group. Returns the number of entries trimmed.
local stream, group = KEYS[1], ARGV[1]
if redis.call('EXISTS', stream) == 0 then return 0 end
local info = group_info(stream, group)
local last = info and info['last-delivered-id']
if not last or last == '0-0' then return 0 end
local pending = redis.call('XPENDING', stream, group)
local keep_from = last
if pending[1] > 0 then keep_from = pending[2] end
return redis.call('XTRIM', stream, 'MINID', keep_from)
