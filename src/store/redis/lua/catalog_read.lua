-- The catalog as JSON: [{id, title, shows: [{id, starts_at, seat_count}]}], or all of it
-- when ARGV[2] is ''. KEYS[1] = the catalog's loaded marker; ARGV[1] = the catalog base.
-- Returns false until the catalog has been loaded from Postgres.
local base, only = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local ids = redis.call('SMEMBERS', key(base, 'concerts'))
if only ~= '' then ids = {only} end
local concerts = {}
for _, id in ipairs(ids) do
  local title = redis.call('HGET', key(base, 'concert', id), 'title')
  if title then
    local shows = {}
    for _, show in ipairs(redis.call('SMEMBERS', key(base, 'concert', id, K.concert_shows))) do
      local s = redis.call('HMGET', key(base, 'show', show), 'starts_at', 'seat_count')
      shows[#shows + 1] = {id = tonumber(show), concert_id = tonumber(id), starts_at = s[1], seat_count = tonumber(s[2])}
    end
    concerts[#concerts + 1] = {id = tonumber(id), title = title, shows = shows}
  end
end
return cjson.encode(concerts)
