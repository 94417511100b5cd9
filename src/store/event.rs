//! A state change of a show's queue or holds, as the Redis scripts record it in the show's
//! event stream and the write-behind brings it to Postgres.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::domain::SeatId;
use crate::domain::queue::Hole;

/// One state change, as a script appended it: one stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The stream entry id, `<ms>-<n>`: unique per show and in stream order.
    pub id: String,
    pub kind: String,
    /// The users it concerns: one, except that a join entry carries every user one batched
    /// join call placed, in seq order.
    pub users: Vec<Uuid>,
    /// The (first) user's join sequence number, where the change has one; a join entry's
    /// other users follow one apart.
    pub seq: Option<i64>,
    pub seats: Vec<SeatId>,
    /// A session or hold expiry, where the change sets one.
    pub until_ms: Option<i64>,
}

impl StreamEvent {
    /// When it happened: the Redis time in the entry id, in ms.
    pub fn at_ms(&self) -> i64 {
        self.id_parts().0
    }

    /// The two numbers of the entry id, which order events within a show.
    pub fn id_parts(&self) -> (i64, i64) {
        let (ms, n) = self.id.split_once('-').unwrap_or((&self.id, "0"));
        (ms.parse().unwrap_or(0), n.parse().unwrap_or(0))
    }

    /// The hole a `hole` entry says a failover opened (q: its first seq, x: the seq after it).
    pub fn hole(&self) -> Option<Hole> {
        match (self.kind.as_str(), self.seq, self.until_ms) {
            ("hole", Some(lo), Some(hi)) => Some(Hole { lo, hi }),
            _ => None,
        }
    }

    /// (seq, user) of every user the event names, where it carries a seq.
    pub fn places(&self) -> impl Iterator<Item = (i64, Uuid)> + '_ {
        self.seq.into_iter().flat_map(|first| (first..).zip(self.users.iter().copied()))
    }
}

/// What a run of events leaves of each seat's hold, for the Postgres mirror of the holds:
/// the last event about a seat wins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HoldChange {
    Held {
        user: Uuid,
        until_ms: i64,
    },
    /// Released by this user (or, without one, gone whoever held it: the seat was sold).
    Released {
        by: Option<Uuid>,
    },
}

pub fn hold_changes<'a>(events: impl IntoIterator<Item = &'a StreamEvent>) -> BTreeMap<SeatId, HoldChange> {
    let mut changes = BTreeMap::new();
    for event in events {
        let user = event.users.first().copied();
        let change = match (event.kind.as_str(), user, event.until_ms) {
            ("hold", Some(user), Some(until_ms)) => HoldChange::Held { user, until_ms },
            ("sold", ..) => HoldChange::Released { by: None },
            ("release" | "expire" | "leave" | "confirm", by, _) => HoldChange::Released { by },
            _ => continue,
        };
        for seat in &event.seats {
            changes.insert(*seat, change);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    fn event(kind: &str, user: Uuid, seats: &[SeatId], until_ms: Option<i64>) -> StreamEvent {
        StreamEvent {
            id: "1-0".into(),
            kind: kind.into(),
            users: vec![user],
            seq: None,
            seats: seats.to_vec(),
            until_ms,
        }
    }

    #[test]
    fn the_last_event_about_a_seat_decides_its_hold() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let events = [
            event("hold", a, &s(&[1, 2]), Some(100)),
            event("release", a, &s(&[2]), None),
            event("hold", b, &s(&[2, 3]), Some(200)),
            event("sold", b, &s(&[3]), None),
            event("join", a, &[], None),
        ];
        let changes = hold_changes(&events);
        assert_eq!(changes[&SeatId(1)], HoldChange::Held { user: a, until_ms: 100 });
        assert_eq!(changes[&SeatId(2)], HoldChange::Held { user: b, until_ms: 200 });
        assert_eq!(changes[&SeatId(3)], HoldChange::Released { by: None });
        assert_eq!(changes.len(), 3);
    }
}
