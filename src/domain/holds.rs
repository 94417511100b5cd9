//! What a valid seat request looks like, before any store is asked; and what a show's
//! taken seats are.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::SeatId;

/// Every seat of a show that is taken now, as the serving store says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeatStates {
    pub sold: Vec<SeatId>,
    /// Held seats, each with when its hold lapses (ms since the epoch).
    pub held: Vec<(SeatId, i64)>,
}

/// The kinds of change a show's seat channel announces, and their one-letter wire form
/// (the scripts name them through the Lua table `SC` made from this list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatChangeKind {
    Held,
    Released,
    Sold,
}

impl SeatChangeKind {
    pub const ALL: [SeatChangeKind; 3] = [Self::Held, Self::Released, Self::Sold];

    pub fn wire(self) -> &'static str {
        match self {
            Self::Held => "h",
            Self::Released => "r",
            Self::Sold => "s",
        }
    }

    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.wire() == wire)
    }

    /// The name the scripts use: `SC.<name>`.
    pub fn lua_name(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Released => "released",
            Self::Sold => "sold",
        }
    }
}

/// No request may name more seats than this, whatever a show's per-user limit.
pub const MAX_SEATS_PER_REQUEST: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub enum SeatRequestError {
    Empty,
    TooMany { limit: usize },
    Duplicates(Vec<SeatId>),
    Unknown(Vec<SeatId>),
}

impl SeatRequestError {
    pub fn message(&self) -> String {
        match self {
            Self::Empty => "seat_ids must name at least one seat".into(),
            Self::TooMany { limit } => format!("at most {limit} seats per request"),
            Self::Duplicates(_) => "seat_ids must not repeat a seat".into(),
            Self::Unknown(_) => "some seats do not exist in this show".into(),
        }
    }

    pub fn seat_ids(&self) -> Vec<SeatId> {
        match self {
            Self::Duplicates(ids) | Self::Unknown(ids) => ids.clone(),
            _ => Vec::new(),
        }
    }
}

/// Checks a list of seat ids: not empty, not too long, no repeats, all seats of the show.
pub fn validate_seat_request(ids: &[SeatId], is_seat_of_show: impl Fn(SeatId) -> bool) -> Result<(), SeatRequestError> {
    if ids.is_empty() {
        return Err(SeatRequestError::Empty);
    }
    if ids.len() > MAX_SEATS_PER_REQUEST {
        return Err(SeatRequestError::TooMany { limit: MAX_SEATS_PER_REQUEST });
    }
    let mut seen = HashSet::new();
    let repeated: Vec<SeatId> = ids.iter().copied().filter(|id| !seen.insert(*id)).collect();
    if !repeated.is_empty() {
        return Err(SeatRequestError::Duplicates(repeated));
    }
    let unknown: Vec<SeatId> = ids.iter().copied().filter(|id| !is_seat_of_show(*id)).collect();
    if !unknown.is_empty() {
        return Err(SeatRequestError::Unknown(unknown));
    }
    Ok(())
}

/// What a batch of hold requests is decided against: the seats sold, who holds which seat
/// now, and which requesters are active. Requests are decided one after another, each seeing
/// the holds the ones before it took, exactly as separate requests would be.
#[derive(Debug, Default)]
pub struct SeatBook {
    pub sold: HashSet<SeatId>,
    pub holders: HashMap<SeatId, Uuid>,
    pub active: HashSet<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldDecision {
    Held,
    /// Held by someone else or sold; nothing was held.
    Unavailable(Vec<SeatId>),
    NotActive,
    OverLimit,
}

impl SeatBook {
    /// All of `seats` for `user`, or none of them; a user holds at most `limit` seats.
    pub fn decide(&mut self, user: Uuid, seats: &[SeatId], limit: usize) -> HoldDecision {
        if !self.active.contains(&user) {
            return HoldDecision::NotActive;
        }
        let taken = |seat: &SeatId| self.sold.contains(seat) || self.holders.get(seat).is_some_and(|h| *h != user);
        let unavailable: Vec<SeatId> = seats.iter().copied().filter(taken).collect();
        if !unavailable.is_empty() {
            return HoldDecision::Unavailable(unavailable);
        }
        let mine = self.holders.values().filter(|h| **h == user).count();
        let fresh = seats.iter().filter(|seat| !self.holders.contains_key(seat)).count();
        if mine + fresh > limit {
            return HoldDecision::OverLimit;
        }
        self.holders.extend(seats.iter().map(|seat| (*seat, user)));
        HoldDecision::Held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    #[test]
    fn a_batch_is_decided_in_order_all_or_nothing_within_the_limit() {
        let (a, b, idle) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut book =
            SeatBook { sold: HashSet::from([SeatId(9)]), active: HashSet::from([a, b]), ..Default::default() };
        assert_eq!(book.decide(idle, &s(&[1]), 4), HoldDecision::NotActive);
        assert_eq!(book.decide(a, &s(&[1, 2]), 4), HoldDecision::Held);
        assert_eq!(book.decide(b, &s(&[2, 3]), 4), HoldDecision::Unavailable(s(&[2])), "the earlier request won");
        assert_eq!(book.decide(b, &s(&[3, 9]), 4), HoldDecision::Unavailable(s(&[9])), "sold");
        assert_eq!(book.holders.get(&SeatId(3)), None, "a refused request holds nothing");
        assert_eq!(book.decide(a, &s(&[1, 2, 3]), 3), HoldDecision::Held, "re-holding my own seats counts them once");
        assert_eq!(book.decide(a, &s(&[4]), 3), HoldDecision::OverLimit);
    }

    fn known(id: SeatId) -> bool {
        (1..=10).contains(&id.0)
    }

    #[test]
    fn a_request_for_known_distinct_seats_is_valid() {
        assert_eq!(validate_seat_request(&s(&[1, 2, 3]), known), Ok(()));
    }

    #[test]
    fn empty_repeated_unknown_and_oversized_requests_are_refused() {
        assert_eq!(validate_seat_request(&[], known), Err(SeatRequestError::Empty));
        assert_eq!(validate_seat_request(&s(&[1, 2, 1]), known), Err(SeatRequestError::Duplicates(s(&[1]))));
        assert_eq!(validate_seat_request(&s(&[1, 11, -3]), known), Err(SeatRequestError::Unknown(s(&[11, -3]))));
        let many: Vec<SeatId> = (0..51).map(SeatId).collect();
        assert_eq!(validate_seat_request(&many, |_| true), Err(SeatRequestError::TooMany { limit: 50 }));
    }
}
