//! A show's whole state as Postgres holds it, to rebuild Redis from: plain data, read by
//! [`super::postgres`] and written by [`super::redis::rebuild`].

use uuid::Uuid;

use crate::domain::catalog::Seat;
use crate::domain::queue::{Hole, QueueConfig};
use crate::domain::{SeatId, ShowId};

#[derive(Debug, Clone, PartialEq)]
pub struct ShowSnapshot {
    pub show: ShowId,
    pub config: QueueConfig,
    pub seats: Vec<Seat>,
    pub sold: Vec<SeatId>,
    pub last_seq: i64,
    pub cursor: i64,
    pub admitted_total: i64,
    pub holes: Vec<Hole>,
    /// The user of every place after the cursor and outside the holes, in seq order: the
    /// waiting list (places whose users left stay on it, to be skipped, as in Redis).
    pub list: Vec<Uuid>,
    /// How many places on `list` are no longer waiting.
    pub left_on_list: u64,
    /// Live places: user -> seq.
    pub members: Vec<(Uuid, i64)>,
    /// Waiting places not on the list (at or behind the cursor, or in a hole): user -> seq.
    pub reinstated: Vec<(Uuid, i64)>,
    /// Admitted users: (user, session or claim window end in ms, claimed).
    pub active: Vec<(Uuid, i64, bool)>,
    /// Live holds: (seat, holder, expiry in ms).
    pub holds: Vec<(SeatId, Uuid, i64)>,
    /// Now, in ms, as the holds' expiries count it.
    pub now_ms: i64,
    /// A closed pre-queue whose draw is still to place it.
    pub pending_draw: Option<PendingDraw>,
}

/// A closed pre-queue's kept seqs, `base + 1 ..= end`: admission waits until they are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDraw {
    pub base: i64,
    pub end: i64,
}

impl PendingDraw {
    /// The kept seqs as a hole: none of them is on the waiting list yet.
    pub fn as_hole(self) -> Hole {
        Hole { lo: self.base + 1, hi: self.end + 1 }
    }
}

impl ShowSnapshot {
    /// Seqs the holes cover in all.
    pub fn holes_size(&self) -> i64 {
        self.holes.iter().map(|h| h.hi - h.lo).sum()
    }
}
