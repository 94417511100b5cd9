//! Push: server-sent events for waiting fans and seat maps, fanned out inside each instance.
//!
//! No client costs a Redis call of its own while nothing changes for it. Every instance
//! already hears each show's admission cursor (see `worker::cursor_feed`); a waiting client's
//! stream wakes on that cursor and computes its position from its `seq`, as a poll would.
//! Seat changes reach each instance once per show ([`seats`]), and the instance hands them
//! to its clients of that show. Slow clients can't hold anyone up: the cursor is a `watch`
//! (a client reads the latest value when it is ready) and the seat deltas a bounded
//! broadcast (a client that falls behind gets a fresh snapshot).

pub mod seats;
pub mod sse;

use std::time::Duration;

use seats::SeatBoards;
use sse::StreamLimit;

pub struct Push {
    pub seats: SeatBoards,
    pub streams: StreamLimit,
    /// How often a quiet stream gets a keep-alive comment.
    pub keep_alive: Duration,
}

impl Push {
    pub fn new(max_streams: usize, keep_alive: Duration) -> Self {
        Self { seats: SeatBoards::default(), streams: StreamLimit::new(max_streams), keep_alive }
    }
}
