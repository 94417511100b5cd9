//! The holds this instance acknowledged on Redis, kept until they lapse. The write-behind
//! mirrors holds into Postgres a moment after Redis acknowledges them; when Redis freezes or
//! dies in that moment and stays away longer than the hand-over waits, the stream that
//! carries them can't be read, and Postgres would give those seats to other fans. The
//! instance that said 201 still knows: at a switch to Postgres it hands its journal over.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use uuid::Uuid;

use crate::domain::{SeatId, ShowId};

/// The most holds one instance keeps (about 100 bytes each): far above what an active set
/// holds within a hold's lifetime; past it the oldest go first.
const CAPACITY: usize = 100_000;

/// A hold Redis acknowledged: its seats, its holder, when it lapses.
#[derive(Debug, Clone, PartialEq)]
pub struct AckedHold {
    pub show: ShowId,
    pub user: Uuid,
    pub seats: Vec<SeatId>,
    pub until_ms: i64,
    /// When Redis recorded it taken (its event stream's clock, which the stays' ends in
    /// Postgres are stamped with).
    pub taken_ms: i64,
}

type Holder = (ShowId, Uuid);

#[derive(Default)]
pub struct AcknowledgedHolds {
    journal: Mutex<Journal>,
}

/// The holds by holder (a release finds its holder's few holds at once), and the holders in
/// the order their holds came, to let the lapsed and the oldest go. There is an arrival for
/// every hold still in the journal (and for some released since), so the arrivals bound it.
#[derive(Default)]
struct Journal {
    by_holder: HashMap<Holder, Vec<AckedHold>>,
    arrivals: VecDeque<(i64, Holder)>,
}

impl Journal {
    fn insert(&mut self, hold: AckedHold, front: bool) {
        let holder = (hold.show, hold.user);
        self.arrivals.push_back((hold.until_ms, holder));
        let holds = self.by_holder.entry(holder).or_default();
        if front { holds.insert(0, hold) } else { holds.push(hold) }
    }

    /// Drops the lapsed holds of the holder that came first, or with `oldest`, its first hold.
    fn drop_first(&mut self, now_ms: i64, oldest: bool) {
        let Some((_, holder)) = self.arrivals.pop_front() else { return };
        let Some(holds) = self.by_holder.get_mut(&holder) else { return };
        if oldest && !holds.is_empty() {
            holds.remove(0);
        }
        holds.retain(|hold| hold.until_ms > now_ms);
        if holds.is_empty() {
            self.by_holder.remove(&holder);
        }
    }
}

impl AcknowledgedHolds {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a hold Redis acknowledged; lapsed ones that came first go.
    pub fn record(&self, hold: AckedHold, now_ms: i64) {
        let mut journal = self.journal();
        while journal.arrivals.front().is_some_and(|(until_ms, _)| *until_ms <= now_ms) {
            journal.drop_first(now_ms, false);
        }
        while journal.arrivals.len() >= CAPACITY {
            journal.drop_first(now_ms, true);
        }
        journal.insert(hold, false);
    }

    /// The holder released a seat: it is not handed over.
    pub fn released(&self, show: ShowId, user: Uuid, seat: SeatId) {
        let mut journal = self.journal();
        let Some(holds) = journal.by_holder.get_mut(&(show, user)) else { return };
        for hold in holds.iter_mut() {
            hold.seats.retain(|held| *held != seat);
        }
        holds.retain(|hold| !hold.seats.is_empty());
        if holds.is_empty() {
            journal.by_holder.remove(&(show, user));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.journal().by_holder.is_empty()
    }

    /// Every hold still running, by show, and the journal emptied.
    pub fn take(&self, now_ms: i64) -> HashMap<ShowId, Vec<AckedHold>> {
        let mut by_show: HashMap<ShowId, Vec<AckedHold>> = HashMap::new();
        let journal = std::mem::take(&mut *self.journal());
        for hold in journal.by_holder.into_values().flatten().filter(|hold| hold.until_ms > now_ms) {
            by_show.entry(hold.show).or_default().push(hold);
        }
        by_show
    }

    /// Holds that could not be handed over yet, back in the journal for the next attempt.
    pub fn put_back(&self, holds: Vec<AckedHold>) {
        let mut journal = self.journal();
        for hold in holds.into_iter().rev() {
            journal.insert(hold, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(show: i64, seats: &[i64], until_ms: i64) -> AckedHold {
        AckedHold {
            show: ShowId(show),
            user: Uuid::from_u128(7),
            seats: seats.iter().map(|s| SeatId(*s)).collect(),
            until_ms,
            taken_ms: 0,
        }
    }

    #[test]
    fn the_holds_still_running_are_taken_by_show_and_the_lapsed_ones_dropped() {
        let journal = AcknowledgedHolds::default();
        journal.record(hold(1, &[10], 1_000), 0);
        journal.record(hold(2, &[20], 5_000), 0);
        journal.record(hold(1, &[11], 5_000), 0);

        let taken = journal.take(2_000);

        assert_eq!(taken[&ShowId(1)], vec![hold(1, &[11], 5_000)]);
        assert_eq!(taken[&ShowId(2)], vec![hold(2, &[20], 5_000)]);
        assert!(journal.is_empty());
    }

    #[test]
    fn a_released_seat_is_not_handed_over_and_an_empty_hold_goes() {
        let journal = AcknowledgedHolds::default();
        journal.record(hold(1, &[10, 11], 5_000), 0);
        journal.record(hold(1, &[12], 5_000), 0);

        journal.released(ShowId(1), Uuid::from_u128(7), SeatId(10));
        journal.released(ShowId(1), Uuid::from_u128(7), SeatId(12));
        journal.released(ShowId(1), Uuid::from_u128(8), SeatId(11));

        assert_eq!(journal.take(0)[&ShowId(1)], vec![hold(1, &[11], 5_000)]);
    }

    #[test]
    fn lapsed_holds_leave_the_journal_as_new_ones_come() {
        let journal = AcknowledgedHolds::default();
        journal.record(hold(1, &[10], 1_000), 0);
        journal.record(hold(1, &[11], 3_000), 2_000);

        assert_eq!(journal.journal().by_holder.values().map(Vec::len).sum::<usize>(), 1);
    }

    #[test]
    fn past_its_capacity_the_journal_lets_the_oldest_hold_go() {
        let journal = AcknowledgedHolds::default();
        for seat in 0..=CAPACITY as i64 {
            journal.record(hold(1, &[seat], 5_000), 0);
        }

        let kept = journal.take(0).remove(&ShowId(1)).unwrap();
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept[0].seats, vec![SeatId(1)], "seat 0's hold, the oldest, went");
    }

    #[test]
    fn holds_put_back_are_taken_again_first() {
        let journal = AcknowledgedHolds::default();
        journal.record(hold(1, &[10], 5_000), 0);
        let taken = journal.take(0).remove(&ShowId(1)).unwrap();
        journal.record(hold(1, &[11], 5_000), 0);

        journal.put_back(taken);

        assert_eq!(journal.take(0)[&ShowId(1)], vec![hold(1, &[10], 5_000), hold(1, &[11], 5_000)]);
    }
}
