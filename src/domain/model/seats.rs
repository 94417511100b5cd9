//! The seats of the model: holds with their owners and ends, and the seats sold.

use std::collections::{BTreeMap, BTreeSet};

use super::{Fan, Refusal, Seat, ms};
use crate::domain::queue::QueueConfig;

#[derive(Debug, Clone)]
pub struct Seats {
    count: u8,
    /// Each held seat's holder and the end of the hold (a hold that ended may linger).
    holds: BTreeMap<Seat, (Fan, i64)>,
    sold: BTreeSet<Seat>,
}

impl Seats {
    pub fn new(count: u8) -> Self {
        Self { count, holds: BTreeMap::new(), sold: BTreeSet::new() }
    }

    fn holder(&self, seat: Seat, now: i64) -> Option<Fan> {
        self.holds.get(&seat).filter(|(_, until)| *until > now).map(|(fan, _)| *fan)
    }

    fn held_by(&self, fan: Fan, now: i64) -> impl Iterator<Item = (Seat, i64)> + '_ {
        self.holds.iter().filter(move |(_, (holder, until))| *holder == fan && *until > now).map(|(s, (_, u))| (*s, *u))
    }

    /// Holds every seat for the fan until the returned time, or none of them.
    pub fn hold(&mut self, fan: Fan, seats: &[Seat], now: i64, config: &QueueConfig) -> Result<i64, Refusal> {
        let taken = |seat: &&Seat| self.sold.contains(seat) || self.holder(**seat, now).is_some_and(|h| h != fan);
        let unavailable: Vec<Seat> = seats.iter().filter(taken).copied().collect();
        if !unavailable.is_empty() {
            return Err(Refusal::SeatUnavailable(unavailable));
        }
        let fresh = seats.iter().filter(|seat| self.holder(**seat, now).is_none()).count();
        if self.held_by(fan, now).count() + fresh > config.max_seats_per_user as usize {
            return Err(Refusal::TooManySeats);
        }
        let until = now + ms(config.hold_ttl_s);
        for seat in seats {
            self.holds.insert(*seat, (fan, until));
        }
        Ok(until)
    }

    /// Releases the fan's hold of the seat; false when they hold no such seat.
    pub fn release(&mut self, fan: Fan, seat: Seat, now: i64) -> bool {
        let mine = self.holder(seat, now) == Some(fan);
        if mine {
            self.holds.remove(&seat);
        }
        mine
    }

    pub fn release_all(&mut self, fan: Fan) {
        self.holds.retain(|_, (holder, _)| *holder != fan);
    }

    /// The fan's held seats, and when the first of those holds ends.
    pub fn holds_of(&self, fan: Fan, now: i64) -> (Vec<Seat>, Option<i64>) {
        let holds: Vec<(Seat, i64)> = self.held_by(fan, now).collect();
        (holds.iter().map(|(seat, _)| *seat).collect(), holds.iter().map(|(_, until)| *until).min())
    }

    /// Whether the fan may buy the seats: none sold, every one held by them.
    pub fn buyable(&self, fan: Fan, seats: &[Seat], now: i64) -> Result<(), Refusal> {
        let sold: Vec<Seat> = seats.iter().filter(|seat| self.sold.contains(seat)).copied().collect();
        if !sold.is_empty() {
            return Err(Refusal::SeatSold(sold));
        }
        let missing: Vec<Seat> = seats.iter().filter(|seat| self.holder(**seat, now) != Some(fan)).copied().collect();
        match missing.is_empty() {
            true => Ok(()),
            false => Err(Refusal::HoldMissing(missing)),
        }
    }

    pub fn sell(&mut self, seats: &[Seat]) {
        for seat in seats {
            self.holds.remove(seat);
            self.sold.insert(*seat);
        }
    }

    pub fn held(&self, now: i64) -> u64 {
        self.holds.keys().filter(|seat| self.holder(**seat, now).is_some()).count() as u64
    }

    pub fn sold(&self) -> u64 {
        self.sold.len() as u64
    }

    pub fn all_sold(&self) -> bool {
        self.sold.len() == usize::from(self.count)
    }
}
