//! The domain's ids go to Redis and come back as the integers they wrap.

use redis::{FromRedisValue, ParsingError, RedisWrite, ToRedisArgs, ToSingleRedisArg, Value};

use crate::domain::{ConcertId, SeatId, ShowId};

macro_rules! integer_ids {
    ($($id:ty),*) => {$(
        impl ToRedisArgs for $id {
            fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
                self.0.write_redis_args(out)
            }
        }

        impl ToSingleRedisArg for $id {}

        impl FromRedisValue for $id {
            fn from_redis_value(value: Value) -> Result<Self, ParsingError> {
                i64::from_redis_value(value).map(Self)
            }
        }
    )*};
}

integer_ids!(ShowId, SeatId, ConcertId);
