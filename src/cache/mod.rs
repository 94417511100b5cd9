//! In-process caches that keep Redis and Postgres off the hot path: the admission cursor of
//! every show (so a waiting user's poll needs no round trip), the seat maps (immutable once
//! a show exists), each show's queue settings for the join path, what this instance knows
//! of each fair opening; and this instance's view of the live shows and the write-behind
//! backlog, which the workers keep and the handlers read.

mod cursors;
mod lag;
mod live;
mod openings;
mod refreshed;
mod seat_maps;

pub use cursors::Cursors;
pub use lag::{Lag, LagSnapshot};
pub use live::LiveShows;
pub use openings::{DrawnSeqs, Openings};
pub use refreshed::{ReadBegan, Refreshed};
pub use seat_maps::{SeatMap, SeatMaps};

/// Each show's queue settings as Postgres last gave them: the join path asks here (for
/// `pow_bits` and `opens_at`), never Postgres, so joins go on while Postgres is down.
pub type QueueConfigs = Refreshed<crate::domain::queue::QueueConfig>;
