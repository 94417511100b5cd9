//! In-process caches that keep Redis and Postgres off the hot path: the admission cursor of
//! every show (so a waiting user's poll needs no round trip), the seat maps (immutable once
//! a show exists), each show's queue settings for the join path, what this instance knows
//! of each fair opening; and this instance's view of the show list and the write-behind
//! backlog, which the workers keep and the handlers read.

mod cursors;
mod lag;
mod openings;
mod queue_configs;
mod seat_maps;
mod shows;

pub use cursors::Cursors;
pub use lag::{Lag, LagSnapshot};
pub use openings::{DrawnSeqs, Openings};
pub use queue_configs::QueueConfigs;
pub use seat_maps::{SeatMap, SeatMaps};
pub use shows::ShowList;
