//! Which shows this instance works on: the live ones, where fans are. A catalog holds
//! thousands of shows and few are on sale; admission ticks, write-behind rounds and feeds
//! go only to the shows some instance saw busy lately (someone joined, waits or is active,
//! a stream held entries, an opening is due) or that the shared registry in Postgres still
//! lists. A show leaves once an instance has seen it quiet (its tick found nobody in line
//! and its streams drained) for the quiet time; a late joiner makes it busy again at once.
//!
//! The join path only stores a time in an atomic here; the marks reach the registry in
//! batches (`take_marks`), each show at most every few seconds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::ShowId;

/// Longest between two marks of a busy show in the registry.
const MARK_EVERY: Duration = Duration::from_secs(5);
/// An opening makes its show busy this long before it comes (the draw runs in its ticks).
pub const OPENING_LEAD: Duration = Duration::from_secs(60);

pub struct LiveShows {
    quiet_after: Duration,
    started: Instant,
    seen: RwLock<HashMap<ShowId, Arc<Seen>>>,
    registry: RwLock<HashSet<ShowId>>,
    /// Openings to wake for: (when, in ms of the sale's clock, show).
    openings: Mutex<BTreeSet<(i64, ShowId)>>,
    /// Sales that end (when, show), until let go of.
    endings: Mutex<BTreeSet<(i64, ShowId)>>,
}

/// What this instance saw of a show; times in ms since the cache was made (0: never).
#[derive(Default)]
struct Seen {
    busy_ms: AtomicU64,
    marked_ms: AtomicU64,
    /// Its last tick found nobody waiting or active.
    idle: AtomicBool,
    /// Its last write-behind round found its streams empty.
    drained: AtomicBool,
}

impl LiveShows {
    pub fn new(quiet_after: Duration) -> Self {
        Self {
            quiet_after,
            started: Instant::now(),
            seen: RwLock::default(),
            registry: RwLock::default(),
            openings: Mutex::default(),
            endings: Mutex::default(),
        }
    }

    /// Fans are in the show's line (or on their way): it is live from now on.
    pub fn busy(&self, show: ShowId) {
        let seen = self.seen(show);
        seen.busy_ms.store(self.now_ms(), Ordering::Relaxed);
        seen.idle.store(false, Ordering::Relaxed);
        seen.drained.store(false, Ordering::Relaxed);
    }

    /// What an admission tick found: someone in line, or nobody.
    pub fn ticked(&self, show: ShowId, busy: bool) {
        match busy {
            true => self.busy(show),
            false => self.seen(show).idle.store(true, Ordering::Relaxed),
        }
    }

    /// What a write-behind round found: entries (or a failure: they may be there), or none.
    pub fn streams_read(&self, show: ShowId, drained: bool) {
        match drained {
            true => self.seen(show).drained.store(true, Ordering::Relaxed),
            false => self.busy(show),
        }
    }

    /// A tick that failed proves nothing: the show is not taken for quiet.
    pub fn unknown(&self, show: ShowId) {
        self.seen(show).idle.store(false, Ordering::Relaxed);
    }

    /// The show's fair opening comes at `at_ms` (the sale's clock): it is busy from a lead
    /// before.
    pub fn opening_at(&self, show: ShowId, at_ms: i64) {
        let wake = at_ms - OPENING_LEAD.as_millis() as i64;
        lock(&self.openings).insert((wake, show));
    }

    /// The show's sale ends at `at_ms` (the sale's clock).
    pub fn ending_at(&self, show: ShowId, at_ms: i64) {
        lock(&self.endings).insert((at_ms, show));
    }

    /// The shows whose sale has ended by `now_ms` and that were not let go of.
    pub fn ended(&self, now_ms: i64) -> Vec<ShowId> {
        lock(&self.endings).iter().take_while(|(at, _)| *at <= now_ms).map(|(_, show)| *show).collect()
    }

    /// The show's sale did not end by `now_ms` after all (its end moved later).
    pub fn not_ending_by(&self, show: ShowId, now_ms: i64) {
        lock(&self.endings).retain(|(at, ending)| *ending != show || *at > now_ms);
    }

    /// The show's sale is over and its keys gone (or it doesn't end then after all): nothing
    /// is done for it any more.
    pub fn let_go(&self, show: ShowId) {
        lock(&self.endings).retain(|(_, ending)| *ending != show);
        self.forget(&[show]);
    }

    /// The live shows, in id order; openings due by `now_ms` (the sale's clock) make their
    /// shows busy first.
    pub fn ids(&self, now_ms: i64) -> Vec<ShowId> {
        self.wake_openings(now_ms);
        let now = self.now_ms();
        let quiet_ms = self.quiet_after.as_millis() as u64;
        let mut live: BTreeSet<ShowId> = self.read_registry().iter().copied().collect();
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        live.extend(
            seen.iter().filter(|(_, s)| recent(s.busy_ms.load(Ordering::Relaxed), now, quiet_ms)).map(|(id, _)| *id),
        );
        live.into_iter().collect()
    }

    /// The shows to mark busy in the registry now (each taken as marked).
    pub fn take_marks(&self) -> Vec<ShowId> {
        let (now, every) = (self.now_ms(), self.mark_every_ms());
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        let mut due = Vec::new();
        for (show, s) in seen.iter() {
            let (busy, marked) = (s.busy_ms.load(Ordering::Relaxed), s.marked_ms.load(Ordering::Relaxed));
            if busy > marked && (marked == 0 || now.saturating_sub(marked) >= every) {
                s.marked_ms.store(now, Ordering::Relaxed);
                due.push(*show);
            }
        }
        due.sort();
        due
    }

    /// Whether the show's mark is due now (taken as marked if so).
    pub fn take_mark(&self, show: ShowId) -> bool {
        let (now, seen) = (self.now_ms(), self.seen(show));
        let marked = seen.marked_ms.load(Ordering::Relaxed);
        let due = marked == 0 || now.saturating_sub(marked) >= self.mark_every_ms();
        if due {
            seen.marked_ms.store(now, Ordering::Relaxed);
        }
        due
    }

    /// A mark that did not reach the registry is sent again next time.
    pub fn marks_failed(&self, shows: &[ShowId]) {
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        shows.iter().filter_map(|show| seen.get(show)).for_each(|s| s.marked_ms.store(0, Ordering::Relaxed));
    }

    /// The shows this instance has seen quiet for the quiet time: nobody in line, streams
    /// drained, not busy here since.
    pub fn quiet(&self) -> Vec<ShowId> {
        let now = self.now_ms();
        let quiet_ms = self.quiet_after.as_millis() as u64;
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        let mut quiet: Vec<ShowId> = seen
            .iter()
            .filter(|(_, s)| s.idle.load(Ordering::Relaxed) && s.drained.load(Ordering::Relaxed))
            .filter(|(_, s)| !recent(s.busy_ms.load(Ordering::Relaxed), now, quiet_ms))
            .map(|(show, _)| *show)
            .collect();
        quiet.sort();
        quiet
    }

    /// The registry as just read.
    pub fn registry_read(&self, live: impl IntoIterator<Item = ShowId>) {
        *self.registry.write().unwrap_or_else(PoisonError::into_inner) = live.into_iter().collect();
    }

    /// The shows left the registry (retired, or ended): nothing is done for them until they
    /// are busy again.
    pub fn forget(&self, shows: &[ShowId]) {
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        let mut registry = self.registry.write().unwrap_or_else(PoisonError::into_inner);
        for show in shows {
            seen.remove(show);
            registry.remove(show);
        }
    }

    fn wake_openings(&self, now_ms: i64) {
        let due: Vec<(i64, ShowId)> = {
            let mut openings = lock(&self.openings);
            let later = openings.split_off(&(now_ms + 1, ShowId(i64::MIN)));
            std::mem::replace(&mut *openings, later).into_iter().collect()
        };
        due.into_iter().for_each(|(_, show)| self.busy(show));
    }

    fn seen(&self, show: ShowId) -> Arc<Seen> {
        if let Some(seen) = self.seen.read().unwrap_or_else(PoisonError::into_inner).get(&show) {
            return seen.clone();
        }
        self.seen.write().unwrap_or_else(PoisonError::into_inner).entry(show).or_default().clone()
    }

    fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, HashSet<ShowId>> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark_every_ms(&self) -> u64 {
        MARK_EVERY.min(self.quiet_after / 3).as_millis() as u64
    }

    /// Ms since the cache was made, at least 1 (0 means never).
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn recent(at_ms: u64, now_ms: u64, within_ms: u64) -> bool {
    at_ms > 0 && now_ms.saturating_sub(at_ms) < within_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_show_nobody_joined_is_not_worked_on() {
        let live = LiveShows::new(QUIET);
        assert!(live.ids(0).is_empty());
        assert!(live.take_marks().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_join_makes_a_show_live_at_once_and_marks_it_once_in_a_while() {
        let live = LiveShows::new(QUIET);
        live.busy(ShowId(7));
        assert_eq!(live.ids(0), [ShowId(7)]);
        assert_eq!(live.take_marks(), [ShowId(7)]);
        live.busy(ShowId(7));
        assert!(live.take_marks().is_empty(), "marked a moment ago");
        tokio::time::advance(MARK_EVERY).await;
        live.busy(ShowId(7));
        assert_eq!(live.take_marks(), [ShowId(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_show_is_quiet_only_once_its_line_is_empty_and_its_streams_drained_for_the_quiet_time() {
        let live = LiveShows::new(QUIET);
        live.busy(ShowId(7));
        live.ticked(ShowId(7), false);
        tokio::time::advance(QUIET).await;
        assert!(live.quiet().is_empty(), "its streams were not read since the join");
        live.streams_read(ShowId(7), true);
        assert_eq!(live.quiet(), [ShowId(7)]);
        assert!(live.ids(0).is_empty(), "not busy here for the quiet time");
        live.ticked(ShowId(7), true);
        assert!(live.quiet().is_empty(), "a late joiner wakes it");
        assert_eq!(live.ids(0), [ShowId(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_tick_or_round_keeps_a_show_from_being_taken_for_quiet() {
        let live = LiveShows::new(QUIET);
        live.ticked(ShowId(7), false);
        live.streams_read(ShowId(7), true);
        live.unknown(ShowId(7));
        tokio::time::advance(QUIET).await;
        assert!(live.quiet().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_registry_keeps_a_show_live_that_another_instance_saw_busy() {
        let live = LiveShows::new(QUIET);
        live.registry_read([ShowId(3), ShowId(9)]);
        assert_eq!(live.ids(0), [ShowId(3), ShowId(9)]);
        live.forget(&[ShowId(3)]);
        assert_eq!(live.ids(0), [ShowId(9)]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_sale_is_followed_until_it_is_let_go_of() {
        let live = LiveShows::new(QUIET);
        live.ending_at(ShowId(4), 1_000);
        assert!(live.ended(999).is_empty());
        assert_eq!(live.ended(1_000), [ShowId(4)]);
        live.ending_at(ShowId(4), 9_000);
        live.not_ending_by(ShowId(4), 5_000);
        assert!(live.ended(5_000).is_empty(), "its end moved later");
        assert_eq!(live.ended(9_000), [ShowId(4)]);
        live.let_go(ShowId(4));
        assert!(live.ended(9_000).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_opening_makes_its_show_live_a_lead_before_it_comes() {
        let live = LiveShows::new(QUIET);
        let opens = 1_000_000;
        live.opening_at(ShowId(5), opens);
        assert!(live.ids(opens - OPENING_LEAD.as_millis() as i64 - 1).is_empty());
        assert_eq!(live.ids(opens - OPENING_LEAD.as_millis() as i64), [ShowId(5)]);
    }
}
