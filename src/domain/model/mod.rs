//! The reference model of one show's sale: every promise boxoffice makes to a fan, written
//! once, as a pure state machine with a clock it is given. Each engine (Redis on one slot,
//! Redis on lanes, the Postgres fallback, and a deployment that moves between them) is
//! checked against it by the differential test (`tests/model`): the same requests, in the
//! same order, must get the same answers.
//!
//! The rules, in the fan's terms (each is one function below, named in brackets):
//!
//! 1. Joining gives a place at the back, numbered after every place given before it; joining
//!    again keeps the place you have, waiting or active ([`Line::join`]).
//! 2. A paused queue gives nobody a new place, but keeps everyone's; a sold-out show takes
//!    no joins at all, though those in line keep polling ([`ShowModel::join`]).
//! 3. Your position is 1 for the next fan to be admitted; it counts the places given before
//!    yours that admission hasn't reached, those of fans who left included (admission
//!    passes over them when it gets there), so it never goes up ([`Line::position`]).
//! 4. Admission takes places in the order they were given, skipping fans who left, never
//!    more than `max_active` active at once and never faster than `admit_per_second`
//!    (domain::queue::refill), and nobody while the queue is paused ([`Line::admit`]).
//! 5. An admitted fan has `claim_window_s` to show up; the first request after admission
//!    starts the session of `session_ttl_s` ([`Line::claim`]). A session that ran out ends at
//!    the next admission tick, or when its fan joins again (who then gets a new place).
//! 6. Leaving gives your place, or your active slot and its holds, back at once; a fan with
//!    neither is told so ([`Line::leave`]).
//! 7. The counts are true: `waiting` is the fans waiting, `active` the sessions not run out,
//!    `joined_total` the places given, `admitted_total` the admissions ([`ShowModel::counts`]).
//! 8. Only an active fan holds seats; a hold is all or nothing, at most
//!    `max_seats_per_user` seats a fan, and lasts `hold_ttl_s` ([`Seats::hold`]).
//! 9. Only the holder releases a hold ([`Seats::release`]).
//! 10. A purchase buys seats the fan holds, each sold once; the same Idempotency-Key gives
//!     the same reservation back for the same seats, in any order (another set is
//!     refused); buying ends the fan's session and releases their other
//!     holds; the last seat sold makes the show sold out ([`ShowModel::buy`]).
//! 11. A move of the deployment to Postgres and back, once the write-behind has caught up,
//!     keeps every place, position, session, hold and sale; admission's bucket starts
//!     afresh on each move ([`ShowModel::move_to`]).
//! 12. A fair opening is set before anyone joined, in the future, and can't move once it
//!     came. Until then joining puts you in the pre-queue, which you may leave; your
//!     pre-queue token answers "pre_queue". The first join at the opening (or the first
//!     admission tick) closes it: its places are kept ahead of everyone who joins later,
//!     and the first tick draws them, each fan in the order of their draw key (the HMAC of
//!     the sale's seed, which it committed to when the opening was set), and admission goes
//!     on. Between the close and the draw (a moment) the pre-queue can't be left (try
//!     again), and every pre-queue token is told it waits in it: the draw tells a fan who
//!     left ([`ShowModel::join`], [`ShowModel::open`]).
//! 13. A show's lanes are set before its first join, its pre-queue's included
//!     ([`ShowModel::change`]).
//! 14. The sale's life decides who may join (`domain::life`): before `on_sale_at` nobody;
//!     a sale the operator closed only a fan who has a place, who keeps it; admission and
//!     everyone in line go on ([`ShowModel::refuses_join`]).

mod line;
mod opening;
mod seats;

pub use line::Line;
use opening::Opening;
pub use seats::Seats;

use std::collections::BTreeMap;

use super::life::SaleState;
use super::queue::{QueueConfig, QueueConfigPatch};

/// The seq a pre-queue token carries: no place yet.
pub const PRE_QUEUE_SEQ: i64 = 0;

/// A fan of the sequence, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fan(pub u8);

/// A seat of the show, by its index in the seat map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seat(pub u8);

/// What a fan, an operator or the clock does.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Join(Fan),
    /// A poll with the fan's latest queue token.
    Standing(Fan),
    Leave(Fan),
    Hold(Fan, Vec<Seat>),
    Release(Fan, Seat),
    HoldsOf(Fan),
    /// A purchase, with an Idempotency-Key (by number) when given.
    Buy(Fan, Vec<Seat>, Option<u8>),
    /// An operator's settings change.
    Change(QueueConfigPatch),
    Counts,
    /// One admission tick.
    Tick,
    /// The deployment moves to this store (nothing happens if it is there already).
    MoveTo(Store),
    /// Time passes.
    Wait {
        ms: i64,
    },
}

/// The store a deployment serves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Redis,
    Postgres,
}

/// Where a fan stands, as the queue calls answer it. Seqs are the model's own (1, 2, ...);
/// the test maps an engine's seqs onto them by order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    Waiting {
        position: u64,
    },
    /// Active until this time (ms of the sequence's clock).
    Active {
        until_ms: i64,
    },
    Expired,
    /// In the pre-queue of a fair opening: no place yet.
    PreQueue,
}

/// A refusal, by its error code.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    QueueClosed,
    NotOnSaleYet,
    SaleClosed,
    SoldOut,
    NotInQueue,
    NotActive,
    SeatUnavailable(Vec<Seat>),
    TooManySeats,
    HoldNotFound,
    HoldMissing(Vec<Seat>),
    SeatSold(Vec<Seat>),
    IdempotencyKeyReused,
    InvalidConfig,
    OpeningFixed,
    QueueStarted,
    LanesFixed,
    /// Not now (503): the pre-queue is being drawn.
    TryAgain,
    /// The fan has no queue token to send (never joined).
    NoToken,
}

/// The queue counts an operator reads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub waiting: u64,
    pub active: u64,
    pub joined_total: u64,
    pub admitted_total: u64,
    pub held: u64,
    pub sold: u64,
}

/// What a request is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Joined {
        created: bool,
        seq: i64,
        standing: Standing,
    },
    Standing(Standing),
    Left,
    Held {
        seats: Vec<Seat>,
        until_ms: i64,
    },
    Holds {
        seats: Vec<Seat>,
        until_ms: Option<i64>,
    },
    Released,
    /// A reservation: the n-th the sequence made (from 1), new or given back.
    Bought {
        reservation: usize,
        created: bool,
        seats: Vec<Seat>,
    },
    Counts(Counts),
    Done,
    Refused(Refusal),
}

/// One show's sale.
#[derive(Debug, Clone)]
pub struct ShowModel {
    now_ms: i64,
    config: QueueConfig,
    line: Line,
    seats: Seats,
    /// Reservations by fan and key: the seats asked for and the reservation's number.
    keyed: BTreeMap<(Fan, u8), (Vec<Seat>, usize)>,
    reservations: usize,
    sold_out: bool,
    /// The latest queue token of each fan: the seq it carries.
    tokens: BTreeMap<Fan, i64>,
    store: Store,
    opening: Opening,
    /// Each fan's draw key, as the sale's seed makes it (told by [`ShowModel::know_draw_keys`]).
    draw_keys: BTreeMap<Fan, Vec<u8>>,
}

impl ShowModel {
    /// A show of `seats` seats on sale from time 0.
    pub fn new(seats: u8, config: QueueConfig) -> Self {
        Self {
            now_ms: 0,
            config,
            line: Line::default(),
            seats: Seats::new(seats),
            keyed: BTreeMap::new(),
            reservations: 0,
            sold_out: false,
            tokens: BTreeMap::new(),
            store: Store::Redis,
            opening: Opening::None,
            draw_keys: BTreeMap::new(),
        }
    }

    /// The fans' draw keys: the seed behind them is the sale's secret until its draw.
    pub fn know_draw_keys(&mut self, keys: BTreeMap<Fan, Vec<u8>>) {
        self.draw_keys = keys;
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn apply(&mut self, request: &Request) -> Answer {
        match request {
            Request::Join(fan) => self.join(*fan),
            Request::Standing(fan) => self.with_token(*fan, |model, seq| model.standing(*fan, seq)),
            Request::Leave(fan) => self.with_token(*fan, |model, seq| model.leave(*fan, seq)),
            Request::Hold(fan, seats) => self.with_token(*fan, |model, _| model.hold(*fan, seats)),
            Request::Release(fan, seat) => self.with_token(*fan, |model, _| model.release(*fan, *seat)),
            Request::HoldsOf(fan) => self.with_token(*fan, |model, _| model.holds_of(*fan)),
            Request::Buy(fan, seats, key) => self.with_token(*fan, |model, _| model.buy(*fan, seats, *key)),
            Request::Change(change) => self.change(change),
            Request::Counts => Answer::Counts(self.counts()),
            Request::Tick => self.tick(),
            Request::MoveTo(store) => self.move_to(*store),
            Request::Wait { ms } => {
                self.now_ms += ms;
                Answer::Done
            }
        }
    }

    fn with_token(&mut self, fan: Fan, call: impl FnOnce(&mut Self, i64) -> Answer) -> Answer {
        match self.tokens.get(&fan) {
            Some(seq) => call(self, *seq),
            None => Answer::Refused(Refusal::NoToken),
        }
    }

    fn join(&mut self, fan: Fan) -> Answer {
        if let Some(refusal) = self.refuses_join(fan) {
            return Answer::Refused(refusal);
        }
        let now = self.now_ms;
        if let Some(created) = self.pre_join(fan) {
            self.tokens.insert(fan, PRE_QUEUE_SEQ);
            return Answer::Joined { created, seq: PRE_QUEUE_SEQ, standing: Standing::PreQueue };
        }
        if self.line.session_over(fan, now) {
            self.end_stay(fan);
        }
        let (seq, created) = match self.line.join(fan, now, &self.config) {
            Some(joined) => joined,
            None => return Answer::Refused(Refusal::QueueClosed),
        };
        self.tokens.insert(fan, seq);
        Answer::Joined { created, seq, standing: self.line.standing(fan, seq, now) }
    }

    /// Whom the sale's state turns away: everyone once sold out or before it is on sale;
    /// once closed, everyone without a place.
    fn refuses_join(&self, fan: Fan) -> Option<Refusal> {
        let config = QueueConfig { sold_out: self.sold_out || self.config.sold_out, ..self.config.clone() };
        let now = chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_default();
        match SaleState::of(&config, now) {
            SaleState::SoldOut => Some(Refusal::SoldOut),
            SaleState::Closed if !self.line.has_place(fan) => Some(Refusal::SaleClosed),
            SaleState::Scheduled => Some(Refusal::NotOnSaleYet),
            _ => None,
        }
    }

    /// Before the opening a join goes to the pre-queue (whether it is new); at it, the
    /// pre-queue closes and the join takes a place behind it, unless it was in it.
    fn pre_join(&mut self, fan: Fan) -> Option<bool> {
        let now = self.now_ms;
        match &mut self.opening {
            Opening::Set { at_ms, pre_queue } if *at_ms > now => Some(pre_queue.insert(fan)),
            opening if opening.in_pre_queue(fan) => Some(false),
            _ => {
                self.close_if_due();
                None
            }
        }
    }

    fn close_if_due(&mut self) {
        if self.opening.due(self.now_ms) {
            let kept = self.opening.close(self.line.joined_total() as i64);
            self.line.keep_for_draw(kept);
        }
    }

    /// The opening came: the pre-queue closes, and its fans take their drawn places.
    fn open(&mut self) {
        self.close_if_due();
        let drawn = self.opening.draw(&self.draw_keys);
        self.line.place_drawn(&drawn);
    }

    fn standing(&mut self, fan: Fan, seq: i64) -> Answer {
        let now = self.now_ms;
        if seq == PRE_QUEUE_SEQ {
            return Answer::Standing(self.pre_queue_standing(fan));
        }
        self.line.claim(fan, now, &self.config);
        Answer::Standing(self.line.standing(fan, seq, now))
    }

    /// A pre-queue token is proof enough before the opening; after it, it answers the drawn
    /// place (and the fan's token carries it from then on).
    fn pre_queue_standing(&mut self, fan: Fan) -> Standing {
        let now = self.now_ms;
        if !self.opening.has_come(now) {
            return Standing::PreQueue;
        }
        if let Some(seq) = self.line.seq_of(fan) {
            self.tokens.insert(fan, seq);
            self.line.claim(fan, now, &self.config);
            return self.line.standing(fan, seq, now);
        }
        match &self.opening {
            // The draw has the last word (and sparing Postgres the whole pre-queue's polls
            // while it runs, a fan who left is told so by it).
            Opening::Closed { .. } => Standing::PreQueue,
            opening if opening.in_pre_queue(fan) => Standing::PreQueue,
            _ => Standing::Expired,
        }
    }

    fn leave(&mut self, fan: Fan, seq: i64) -> Answer {
        let now = self.now_ms;
        if seq == PRE_QUEUE_SEQ
            && let Opening::Set { at_ms, pre_queue } = &mut self.opening
            && *at_ms > now
            && pre_queue.remove(&fan)
        {
            return Answer::Left;
        }
        if self.line.has_place(fan) {
            self.end_stay(fan);
            return Answer::Left;
        }
        if seq == PRE_QUEUE_SEQ && self.opening.in_pre_queue(fan) {
            return Answer::Refused(Refusal::TryAgain);
        }
        Answer::Refused(Refusal::NotInQueue)
    }

    /// A fan's place goes, and with it their holds.
    fn end_stay(&mut self, fan: Fan) {
        self.line.remove(fan);
        self.seats.release_all(fan);
    }

    fn hold(&mut self, fan: Fan, seats: &[Seat]) -> Answer {
        let now = self.now_ms;
        if !self.line.is_active(fan, now) {
            return Answer::Refused(Refusal::NotActive);
        }
        self.line.claim(fan, now, &self.config);
        match self.seats.hold(fan, seats, now, &self.config) {
            Ok(until_ms) => Answer::Held { seats: seats.to_vec(), until_ms },
            Err(refusal) => Answer::Refused(refusal),
        }
    }

    fn release(&mut self, fan: Fan, seat: Seat) -> Answer {
        match self.seats.release(fan, seat, self.now_ms) {
            true => Answer::Released,
            false => Answer::Refused(Refusal::HoldNotFound),
        }
    }

    fn holds_of(&self, fan: Fan) -> Answer {
        let (seats, until_ms) = self.seats.holds_of(fan, self.now_ms);
        Answer::Holds { seats, until_ms }
    }

    fn buy(&mut self, fan: Fan, seats: &[Seat], key: Option<u8>) -> Answer {
        if let Some(key) = key
            && let Some((asked, reservation)) = self.keyed.get(&(fan, key))
        {
            return match same_seats(asked, seats) {
                true => Answer::Bought { reservation: *reservation, created: false, seats: asked.clone() },
                false => Answer::Refused(Refusal::IdempotencyKeyReused),
            };
        }
        if let Err(refusal) = self.seats.buyable(fan, seats, self.now_ms) {
            return Answer::Refused(refusal);
        }
        self.seats.sell(seats);
        self.end_stay(fan);
        self.reservations += 1;
        if let Some(key) = key {
            self.keyed.insert((fan, key), (seats.to_vec(), self.reservations));
        }
        self.sold_out |= self.seats.all_sold();
        Answer::Bought { reservation: self.reservations, created: true, seats: seats.to_vec() }
    }

    fn change(&mut self, patch: &QueueConfigPatch) -> Answer {
        let config = match patch.apply(&self.config) {
            Ok(config) => config,
            Err(_) => return Answer::Refused(Refusal::InvalidConfig),
        };
        if config.lanes != self.config.lanes && (self.line.joined_total() > 0 || self.opening.has_pre_queue()) {
            return Answer::Refused(Refusal::LanesFixed);
        }
        if let Some(wanted) = patch.opens_at
            && let Err(refusal) = self.set_opening(wanted.timestamp_millis())
        {
            return Answer::Refused(refusal);
        }
        self.config = config;
        Answer::Done
    }

    fn set_opening(&mut self, at_ms: i64) -> Result<(), Refusal> {
        let now = self.now_ms;
        if self.opening.has_come(now) {
            return Err(Refusal::OpeningFixed);
        }
        if at_ms <= now {
            return Err(Refusal::InvalidConfig);
        }
        self.opening = match std::mem::take(&mut self.opening) {
            Opening::None if self.line.joined_total() > 0 => return Err(Refusal::QueueStarted),
            Opening::Set { pre_queue, .. } => Opening::Set { at_ms, pre_queue },
            _ => Opening::Set { at_ms, pre_queue: Default::default() },
        };
        Ok(())
    }

    fn tick(&mut self) -> Answer {
        if self.opening.has_come(self.now_ms) {
            self.open();
        }
        for fan in self.line.sessions_over(self.now_ms) {
            self.end_stay(fan);
        }
        self.line.admit(self.now_ms, &self.config);
        Answer::Done
    }

    fn move_to(&mut self, store: Store) -> Answer {
        if store != self.store {
            self.store = store;
            self.line.moved();
        }
        Answer::Done
    }

    fn counts(&self) -> Counts {
        let now = self.now_ms;
        Counts {
            waiting: self.line.waiting(),
            active: self.line.active(now),
            joined_total: self.line.joined_total(),
            admitted_total: self.line.admitted_total(),
            held: self.seats.held(now),
            sold: self.seats.sold(),
        }
    }
}

/// A setting's seconds in the model's milliseconds.
fn ms(seconds: u32) -> i64 {
    i64::from(seconds) * 1000
}

/// The same set of seats, whatever the order they were asked in.
fn same_seats(a: &[Seat], b: &[Seat]) -> bool {
    let sorted = |seats: &[Seat]| {
        let mut seats = seats.to_vec();
        seats.sort();
        seats
    };
    sorted(a) == sorted(b)
}

#[cfg(test)]
mod tests;
