-- Write-behind health of one show's stream.
-- KEYS[1] = stream; ARGV[1] = group.
-- Returns {length, unacknowledged (pending + never delivered), age in ms of the oldest
-- unacknowledged entry (0: none)}.
local stream, group = KEYS[1], ARGV[1]
local length = redis.call('XLEN', stream)
if length == 0 then return {0, 0, 0} end
local info = group_info(stream, group)
local last, pending, undelivered = '0-0', {0}, length
if info then
  last = info['last-delivered-id']
  pending = redis.call('XPENDING', stream, group)
  -- Redis leaves lag unset when it cannot tell; all but the pending entries is the bound.
  undelivered = tonumber(info['lag']) or (length - pending[1])
end
local oldest = nil
if pending[1] > 0 then
  oldest = pending[2]
else
  local next_entry = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
  if #next_entry > 0 then oldest = next_entry[1][1] end
end
local age = 0
if oldest then age = math.max(0, now_ms(0) - tonumber(string.match(oldest, '^(%d+)'))) end
return {length, math.min(length, pending[1] + undelivered), age}
