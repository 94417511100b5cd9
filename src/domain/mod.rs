//! The rules of the sale, free of I/O: positions and ETAs, poll pacing, queue settings,
//! seat layouts and hold requests. Everything here is unit-tested without Redis or Postgres.

pub mod catalog;
pub mod holds;
pub mod pow;
pub mod queue;

pub type ShowId = i64;
pub type SeatId = i64;
pub type ConcertId = i64;
