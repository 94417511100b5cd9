-- After the sale committed in Postgres: the seats are sold, their holds (whoever has them
-- now) go, and the user's other holds and active slot are given back.
-- ARGV: base, now, uid, seats...
local base, uid = ARGV[1], ARGV[3]
local seats = {}
for i = 4, #ARGV do
  local seat = ARGV[i]
  seats[#seats + 1] = seat
  redis.call('SADD', key(base, 'sold'), seat)
  redis.call('DEL', key(base, 'hold', seat))
  redis.call('ZREM', key(base, 'held'), seat)
end
redis.call('ZREM', user_holds_key(base, uid), unpack(seats))
emit(base, E.sold, uid, nil, table.concat(seats, ','))
announce_seats(base, SC.sold, table.concat(seats, ','))
end_session(base, uid, E.confirmed)
return 1
