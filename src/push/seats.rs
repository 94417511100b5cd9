//! Each instance's view of the seat maps that its clients stream, one board per show.
//!
//! A board learns changes from three sources: the show's seat channel (Redis sharded
//! Pub/Sub, or a Postgres `NOTIFY` while the deployment serves from Postgres), a resync
//! against the store (every few seconds, after a lost subscription, and when a hold it knows
//! of should have lapsed), and nothing else. Each source is turned into the delta between
//! what the board knew and what is true now, so a repeated or late message changes nothing
//! and a lost one is made up at the next resync. Deltas go out on a bounded broadcast
//! channel: a client that can't keep up lags, and is sent a fresh snapshot instead.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::domain::holds::{SeatChangeKind, SeatStates};
use crate::domain::{SeatId, ShowId};

/// Deltas a client may fall behind by before it is sent a snapshot instead.
pub const BACKLOG: usize = 256;

/// What changed on a seat map: the `data` of a `seats` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SeatDelta {
    pub held: Vec<SeatId>,
    pub released: Vec<SeatId>,
    pub sold: Vec<SeatId>,
}

impl SeatDelta {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.released.is_empty() && self.sold.is_empty()
    }

    /// This delta followed by `next`, as one: a seat's last change wins.
    pub fn then(&mut self, next: &SeatDelta) {
        let changed: HashSet<SeatId> = next.held.iter().chain(&next.released).chain(&next.sold).copied().collect();
        for list in [&mut self.held, &mut self.released, &mut self.sold] {
            list.retain(|seat| !changed.contains(seat));
        }
        self.held.extend(&next.held);
        self.released.extend(&next.released);
        self.sold.extend(&next.sold);
    }
}

/// One change announced on a show's seat channel.
#[derive(Debug, Clone, PartialEq)]
pub enum SeatChange {
    /// Held until the given time (ms since the epoch, the store's clock).
    Held(Vec<SeatId>, i64),
    Released(Vec<SeatId>),
    Sold(Vec<SeatId>),
}

impl SeatChange {
    /// `<kind>:<until ms>:<seat>,<seat>,...` with a [`SeatChangeKind`]'s wire form, as the
    /// scripts send it.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.splitn(3, ':');
        let (kind, until, seats) = (parts.next()?, parts.next()?, parts.next()?);
        let seats = seats.split(',').map(str::parse).collect::<Result<Vec<SeatId>, _>>().ok()?;
        match SeatChangeKind::parse(kind)? {
            SeatChangeKind::Held => Some(Self::Held(seats, until.parse().ok()?)),
            SeatChangeKind::Released => Some(Self::Released(seats)),
            SeatChangeKind::Sold => Some(Self::Sold(seats)),
        }
    }
}

#[derive(Default)]
struct Known {
    /// Held seats, with when their hold lapses (ms).
    held: HashMap<SeatId, i64>,
    sold: HashSet<SeatId>,
}

impl Known {
    fn apply(&mut self, change: &SeatChange) -> SeatDelta {
        let mut delta = SeatDelta::default();
        match change {
            SeatChange::Held(seats, until) => {
                for seat in seats.iter().filter(|seat| !self.sold.contains(seat)) {
                    if self.held.insert(*seat, *until).is_none() {
                        delta.held.push(*seat);
                    }
                }
            }
            SeatChange::Released(seats) => {
                delta.released = seats.iter().copied().filter(|seat| self.held.remove(seat).is_some()).collect();
            }
            SeatChange::Sold(seats) => {
                for seat in seats {
                    self.held.remove(seat);
                    if self.sold.insert(*seat) {
                        delta.sold.push(*seat);
                    }
                }
            }
        }
        delta
    }

    /// Takes the store's word for every seat; the delta is what the board had wrong.
    fn resync(&mut self, states: &SeatStates) -> SeatDelta {
        let sold: HashSet<SeatId> = states.sold.iter().copied().collect();
        let held: HashMap<SeatId, i64> = states.held.iter().copied().filter(|(seat, _)| !sold.contains(seat)).collect();
        let mut delta = SeatDelta {
            sold: sold.difference(&self.sold).copied().collect(),
            held: held.keys().copied().filter(|seat| !self.held.contains_key(seat)).collect(),
            released: self
                .held
                .keys()
                .chain(self.sold.difference(&sold))
                .copied()
                .filter(|seat| !held.contains_key(seat) && !sold.contains(seat))
                .collect(),
        };
        for list in [&mut delta.held, &mut delta.released, &mut delta.sold] {
            list.sort_unstable();
        }
        self.held = held;
        self.sold = sold;
        delta
    }
}

pub struct SeatBoard {
    known: Mutex<Known>,
    deltas: broadcast::Sender<Arc<SeatDelta>>,
    /// Counts the deltas sent; the `id` of the events.
    version: AtomicU64,
    /// Set when the board may have missed a change (a lost subscription): resync now.
    stale: AtomicBool,
}

impl Default for SeatBoard {
    fn default() -> Self {
        Self {
            known: Mutex::default(),
            deltas: broadcast::channel(BACKLOG).0,
            version: AtomicU64::new(0),
            stale: AtomicBool::new(true),
        }
    }
}

impl SeatBoard {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SeatDelta>> {
        self.deltas.subscribe()
    }

    /// How many clients stream this show's seats on this instance.
    pub fn watchers(&self) -> usize {
        self.deltas.receiver_count()
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn apply(&self, change: &SeatChange) {
        let delta = self.known.lock().unwrap_or_else(PoisonError::into_inner).apply(change);
        self.send(delta);
    }

    pub fn resync(&self, states: &SeatStates) {
        self.stale.store(false, Ordering::Release);
        let delta = self.known.lock().unwrap_or_else(PoisonError::into_inner).resync(states);
        if !delta.is_empty() {
            metrics::counter!("boxoffice_sse_resync_corrections_total").increment(1);
        }
        self.send(delta);
    }

    fn send(&self, delta: SeatDelta) {
        if delta.is_empty() {
            return;
        }
        self.version.fetch_add(1, Ordering::AcqRel);
        // Nobody listening is fine: the board still keeps track for the next client.
        let _ = self.deltas.send(Arc::new(delta));
    }

    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// The earliest time (ms) a hold the board knows of lapses, if any.
    pub fn next_lapse(&self) -> Option<i64> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.held.values().copied().min()
    }
}

/// Every show's board on this instance.
#[derive(Default)]
pub struct SeatBoards {
    boards: RwLock<HashMap<ShowId, Arc<SeatBoard>>>,
}

impl SeatBoards {
    pub fn get(&self, show: ShowId) -> Option<Arc<SeatBoard>> {
        self.boards.read().unwrap_or_else(PoisonError::into_inner).get(&show).cloned()
    }

    pub fn get_or_create(&self, show: ShowId) -> Arc<SeatBoard> {
        if let Some(board) = self.get(show) {
            return board;
        }
        self.boards.write().unwrap_or_else(PoisonError::into_inner).entry(show).or_default().clone()
    }

    /// The shows somebody streams on this instance.
    pub fn watched(&self) -> Vec<(ShowId, Arc<SeatBoard>)> {
        let boards = self.boards.read().unwrap_or_else(PoisonError::into_inner);
        boards.iter().filter(|(_, board)| board.watchers() > 0).map(|(show, board)| (*show, board.clone())).collect()
    }

    /// Every board, e.g. to mark them all stale when a subscription was lost.
    pub fn all(&self) -> Vec<Arc<SeatBoard>> {
        self.boards.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    fn states(sold: &[SeatId], held: &[SeatId]) -> SeatStates {
        SeatStates { sold: sold.to_vec(), held: held.iter().map(|seat| (*seat, 100)).collect() }
    }

    #[test]
    fn channel_messages_are_kind_until_and_seats() {
        assert_eq!(SeatChange::parse("h:1700:1,2"), Some(SeatChange::Held(s(&[1, 2]), 1700)));
        assert_eq!(SeatChange::parse("r:0:7"), Some(SeatChange::Released(s(&[7]))));
        assert_eq!(SeatChange::parse("s:0:3,4"), Some(SeatChange::Sold(s(&[3, 4]))));
        assert_eq!(SeatChange::parse("x:0:3"), None);
        assert_eq!(SeatChange::parse("h:soon:3"), None);
        assert_eq!(SeatChange::parse("r:0:"), None);
    }

    #[test]
    fn a_change_heard_twice_is_sent_once() {
        let mut known = Known::default();
        let held = SeatChange::Held(s(&[1, 2]), 10);
        assert_eq!(known.apply(&held).held, s(&[1, 2]));
        assert!(known.apply(&held).is_empty());
        assert_eq!(known.apply(&SeatChange::Released(s(&[2, 3]))).released, s(&[2]));
        assert_eq!(known.apply(&SeatChange::Sold(s(&[1]))).sold, s(&[1]));
        assert!(known.apply(&SeatChange::Held(s(&[1]), 20)).is_empty(), "a sold seat is never held again");
    }

    #[test]
    fn a_resync_sends_only_what_the_board_had_wrong() {
        let mut known = Known::default();
        known.apply(&SeatChange::Held(s(&[1, 2]), 10));
        let delta = known.resync(&states(&s(&[2]), &s(&[1, 5])));
        assert_eq!(delta, SeatDelta { held: s(&[5]), released: vec![], sold: s(&[2]) });
        let delta = known.resync(&states(&s(&[2]), &[]));
        assert_eq!(delta, SeatDelta { held: vec![], released: s(&[1, 5]), sold: vec![] });
        assert!(known.resync(&states(&s(&[2]), &[])).is_empty());
    }

    #[test]
    fn a_sale_the_store_no_longer_knows_is_released() {
        let mut known = Known::default();
        known.apply(&SeatChange::Sold(s(&[4])));
        assert_eq!(known.resync(&states(&[], &[])).released, s(&[4]));
    }

    #[test]
    fn merged_deltas_keep_each_seats_last_change() {
        let mut first = SeatDelta { held: s(&[1, 2]), released: s(&[3]), sold: vec![] };
        first.then(&SeatDelta { held: s(&[3]), released: s(&[1]), sold: s(&[2]) });
        assert_eq!(first, SeatDelta { held: s(&[3]), released: s(&[1]), sold: s(&[2]) });
    }

    #[test]
    fn the_next_lapse_is_the_earliest_known_expiry() {
        let board = SeatBoard::default();
        assert_eq!(board.next_lapse(), None);
        board.apply(&SeatChange::Held(s(&[1]), 50));
        board.apply(&SeatChange::Held(s(&[2]), 30));
        assert_eq!(board.next_lapse(), Some(30));
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_told_it_lagged() {
        let board = SeatBoard::default();
        let mut slow = board.subscribe();
        for seat in 0..(BACKLOG as i64 + 10) {
            board.apply(&SeatChange::Held(vec![SeatId(seat)], 1));
        }
        assert!(matches!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
    }
}
