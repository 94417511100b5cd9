-- Release one seat: compare-and-delete by owner.
-- ARGV: base, now, uid, seat. Returns 1, or 0 when the seat is not held by this user.
local base, uid, seat = ARGV[1], ARGV[3], ARGV[4]
local hold = key(base, 'hold', seat)
if holder(base, seat, now_ms(ARGV[2])) ~= uid then return 0 end
redis.call('DEL', hold)
redis.call('ZREM', key(base, 'held'), seat)
redis.call('ZREM', user_holds_key(base, uid), seat)
emit(base, E.released, uid, nil, seat)
announce_seats(base, SC.released, seat)
return 1
