//! In-process caches that keep Redis off the hot path: the admission cursor of every show
//! (so a waiting user's poll needs no round trip) and the seat maps (immutable once a show
//! exists).

mod cursors;
mod seat_maps;

pub use cursors::Cursors;
pub use seat_maps::{SeatMap, SeatMaps};
