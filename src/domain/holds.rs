//! What a valid seat request looks like, before any store is asked.

use std::collections::HashSet;

use super::SeatId;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: SeatId) -> bool {
        (1..=10).contains(&id)
    }

    #[test]
    fn a_request_for_known_distinct_seats_is_valid() {
        assert_eq!(validate_seat_request(&[1, 2, 3], known), Ok(()));
    }

    #[test]
    fn empty_repeated_unknown_and_oversized_requests_are_refused() {
        assert_eq!(validate_seat_request(&[], known), Err(SeatRequestError::Empty));
        assert_eq!(validate_seat_request(&[1, 2, 1], known), Err(SeatRequestError::Duplicates(vec![1])));
        assert_eq!(validate_seat_request(&[1, 11, -3], known), Err(SeatRequestError::Unknown(vec![11, -3])));
        let many: Vec<SeatId> = (0..51).collect();
        assert_eq!(validate_seat_request(&many, |_| true), Err(SeatRequestError::TooMany { limit: 50 }));
    }
}
