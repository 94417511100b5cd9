//! The admission cursor of each show, as this instance last heard it.
//!
//! It is updated from three sources: the cursor Pub/Sub channel (every admission announces
//! the new cursor, so instances usually know within milliseconds), this instance's own
//! admission ticks (every tick returns the cursor, which bounds staleness by the tick
//! interval if a Pub/Sub message is lost), and any script reply that carries it. The value
//! only moves forward, so positions computed from it never go up on one instance, until the
//! deployment moves to another store: its cursors are then forgotten and read again (the
//! new store's may be behind, for a show it took over with nobody in line).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::domain::ShowId;
use crate::domain::queue::{AdmissionRate, Hole};

struct ShowCursor {
    cursor: AtomicI64,
    rate: Mutex<AdmissionRate>,
    /// When it was last observed, in ms since the cache was made.
    seen_ms: AtomicU64,
    /// Wakes the show's event streams when the cursor moves.
    moved: watch::Sender<i64>,
}

/// A cursor not known since the deployment moved.
const FORGOTTEN: i64 = -1;

impl Default for ShowCursor {
    fn default() -> Self {
        Self {
            cursor: AtomicI64::new(FORGOTTEN),
            rate: Mutex::default(),
            seen_ms: AtomicU64::default(),
            moved: watch::channel(0).0,
        }
    }
}

pub struct Cursors {
    started: Instant,
    shows: RwLock<HashMap<ShowId, Arc<ShowCursor>>>,
    /// Every show's holes (seqs no waiting place has), which positions skip.
    holes: RwLock<HashMap<ShowId, Arc<[Hole]>>>,
}

impl Default for Cursors {
    fn default() -> Self {
        Self { started: Instant::now(), shows: RwLock::default(), holes: RwLock::default() }
    }
}

impl Cursors {
    pub fn get(&self, show: ShowId) -> Option<i64> {
        self.get_fresh(show, None)
    }

    /// The cursor, if known and (with `max_age`) observed that recently.
    pub fn get_fresh(&self, show: ShowId, max_age: Option<Duration>) -> Option<i64> {
        let shows = self.shows.read().unwrap_or_else(|e| e.into_inner());
        let entry = shows.get(&show)?;
        let age = self.now_ms().saturating_sub(entry.seen_ms.load(Ordering::Acquire));
        let cursor = entry.cursor.load(Ordering::Acquire);
        (cursor != FORGOTTEN && max_age.is_none_or(|max| age <= max.as_millis() as u64)).then_some(cursor)
    }

    /// Forgets every cursor (the deployment moved to another store): each is read again.
    pub fn forget_all(&self) {
        for entry in self.shows.read().unwrap_or_else(|e| e.into_inner()).values() {
            entry.cursor.store(FORGOTTEN, Ordering::Release);
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records a cursor value seen for the show; older values than the one known are ignored.
    pub fn observe(&self, show: ShowId, cursor: i64) {
        let entry = self.entry(show);
        let known = entry.cursor.fetch_max(cursor, Ordering::AcqRel).max(cursor);
        entry.seen_ms.store(self.now_ms(), Ordering::Release);
        entry.rate.lock().unwrap_or_else(|e| e.into_inner()).observe(Instant::now(), known);
        entry.moved.send_if_modified(|sent| {
            let moved = known > *sent;
            *sent = (*sent).max(known);
            moved
        });
    }

    /// The show's cursor as it moves: the receiver sees each new value (or the latest, when it
    /// looks less often than the cursor moves).
    pub fn watch(&self, show: ShowId) -> watch::Receiver<i64> {
        self.entry(show).moved.subscribe()
    }

    /// The shows whose cursor some event stream on this instance is watching.
    pub fn watched(&self) -> Vec<ShowId> {
        let shows = self.shows.read().unwrap_or_else(|e| e.into_inner());
        shows.iter().filter(|(_, entry)| entry.moved.receiver_count() > 0).map(|(show, _)| *show).collect()
    }

    /// Users admitted per second recently, if known.
    pub fn rate(&self, show: ShowId) -> Option<f64> {
        let shows = self.shows.read().unwrap_or_else(|e| e.into_inner());
        shows.get(&show)?.rate.lock().unwrap_or_else(|e| e.into_inner()).per_second(Instant::now())
    }

    /// Every known cursor, to hand over when the deployment switches stores.
    pub fn all(&self) -> Vec<(ShowId, i64)> {
        let shows = self.shows.read().unwrap_or_else(|e| e.into_inner());
        let known = shows.iter().map(|(show, entry)| (*show, entry.cursor.load(Ordering::Acquire)));
        known.filter(|(_, cursor)| *cursor != FORGOTTEN).collect()
    }

    pub fn holes(&self, show: ShowId) -> Arc<[Hole]> {
        let holes = self.holes.read().unwrap_or_else(|e| e.into_inner());
        holes.get(&show).cloned().unwrap_or_else(|| Arc::new([]))
    }

    /// How many seqs the show's holes cover, as this instance knows them.
    pub fn hole_total(&self, show: ShowId) -> i64 {
        self.holes(show).iter().map(|hole| hole.hi - hole.lo).sum()
    }

    /// Replaces one show's holes (Redis opened one after a failover).
    pub fn set_show_holes(&self, show: ShowId, list: Vec<Hole>) {
        self.holes.write().unwrap_or_else(|e| e.into_inner()).insert(show, Arc::from(list));
    }

    /// Replaces every show's holes (when the deployment switches stores).
    pub fn set_holes(&self, holes: HashMap<ShowId, Vec<Hole>>) {
        let holes = holes.into_iter().map(|(show, list)| (show, Arc::from(list))).collect();
        *self.holes.write().unwrap_or_else(|e| e.into_inner()) = holes;
    }

    fn entry(&self, show: ShowId) -> Arc<ShowCursor> {
        if let Some(entry) = self.shows.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return entry.clone();
        }
        self.shows.write().unwrap_or_else(|e| e.into_inner()).entry(show).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_show_has_no_cursor() {
        assert_eq!(Cursors::default().get(ShowId(1)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cursor_older_than_asked_for_is_not_given() {
        let cursors = Cursors::default();
        cursors.observe(ShowId(1), 10);
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(cursors.get_fresh(ShowId(1), Some(Duration::from_millis(500))), None);
        assert_eq!(cursors.get(ShowId(1)), Some(10), "without a bound, any age will do");
    }

    #[test]
    fn the_cursor_never_moves_back() {
        let cursors = Cursors::default();
        cursors.observe(ShowId(1), 10);
        cursors.observe(ShowId(1), 7);
        assert_eq!(cursors.get(ShowId(1)), Some(10));
        cursors.observe(ShowId(1), 12);
        assert_eq!(cursors.get(ShowId(1)), Some(12));
    }

    #[tokio::test]
    async fn a_watcher_wakes_when_the_cursor_moves_and_only_then() {
        let cursors = Cursors::default();
        let mut watcher = cursors.watch(ShowId(4));
        assert_eq!(cursors.watched(), vec![ShowId(4)]);
        cursors.observe(ShowId(4), 10);
        watcher.changed().await.unwrap();
        assert_eq!(*watcher.borrow_and_update(), 10);
        cursors.observe(ShowId(4), 9);
        cursors.observe(ShowId(4), 10);
        assert!(!watcher.has_changed().unwrap(), "an old or repeated cursor wakes nobody");
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_comes_from_observed_cursor_movement() {
        let cursors = Cursors::default();
        for step in 0..=4 {
            cursors.observe(ShowId(3), step * 5);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let rate = cursors.rate(ShowId(3)).unwrap();
        assert!((rate - 4.0).abs() < 0.01, "{rate}");
    }
}
