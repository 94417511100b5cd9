//! A state change of a show's queue or holds, as the Redis scripts record it in the show's
//! event stream and the write-behind brings it to Postgres.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::domain::SeatId;
use crate::domain::holds::SeatChangeKind;
use crate::domain::queue::Hole;

/// The kinds of state change a show's event stream records. This list is the one place
/// that spells each kind's wire form: the scripts name kinds through the Lua table `E` made
/// from it ([`lua_event_table`]), the stream entries and `write_behind_events.kind` carry
/// the wire form, and the code matches on the variants.
macro_rules! event_kinds {
    ($($(#[$doc:meta])* $name:ident => ($lua:ident, $wire:literal)),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind { $($(#[$doc])* $name),* }

        impl EventKind {
            pub const ALL: &[EventKind] = &[$(EventKind::$name),*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$name => $wire),* }
            }

            /// The name the scripts use: `E.<name>`.
            fn lua_name(self) -> &'static str {
                match self { $(EventKind::$name => stringify!($lua)),* }
            }
        }
    };
}

event_kinds! {
    /// New places, one entry per batched join call (or a place given back).
    Joined => (joined, "join"),
    /// Admitted into the active set, with the claim window's end.
    Admitted => (admitted, "admit"),
    /// The first request after admission: the session runs until `until_ms`.
    Claimed => (claimed, "claim"),
    Left => (left, "leave"),
    /// A session that lapsed.
    Expired => (expired, "expire"),
    /// A purchase ended the session.
    Confirmed => (confirmed, "confirm"),
    Held => (held, "hold"),
    Released => (released, "release"),
    Sold => (sold, "sold"),
    /// Seqs no place has (a failover, or the seqs kept for a drawn pre-queue).
    Hole => (hole, "hole"),
}

impl EventKind {
    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.as_str() == wire)
    }
}

/// The Lua tables of every kind's wire form by the name the scripts use: `E` of the event
/// stream's kinds (`E.joined`), `SC` of the seat channel's (`SC.held`).
pub fn lua_event_table() -> String {
    let events: Vec<String> = EventKind::ALL.iter().map(|k| format!("{} = '{}'", k.lua_name(), k.as_str())).collect();
    let seats: Vec<String> = SeatChangeKind::ALL.iter().map(|k| format!("{} = '{}'", k.lua_name(), k.wire())).collect();
    format!("local E = {{{}}}\nlocal SC = {{{}}}\n", events.join(", "), seats.join(", "))
}

/// One state change, as a script appended it: one stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The stream entry id, `<ms>-<n>`: unique per show and in stream order.
    pub id: String,
    pub kind: EventKind,
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
        match (self.kind, self.seq, self.until_ms) {
            (EventKind::Hole, Some(lo), Some(hi)) => Some(Hole { lo, hi }),
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
        let change = match (event.kind, user, event.until_ms) {
            (EventKind::Held, Some(user), Some(until_ms)) => HoldChange::Held { user, until_ms },
            (EventKind::Sold, ..) => HoldChange::Released { by: None },
            (EventKind::Released | EventKind::Expired | EventKind::Left | EventKind::Confirmed, by, _) => {
                HoldChange::Released { by }
            }
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

    fn event(kind: EventKind, user: Uuid, seats: &[SeatId], until_ms: Option<i64>) -> StreamEvent {
        StreamEvent { id: "1-0".into(), kind, users: vec![user], seq: None, seats: seats.to_vec(), until_ms }
    }

    #[test]
    fn the_last_event_about_a_seat_decides_its_hold() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let events = [
            event(EventKind::Held, a, &s(&[1, 2]), Some(100)),
            event(EventKind::Released, a, &s(&[2]), None),
            event(EventKind::Held, b, &s(&[2, 3]), Some(200)),
            event(EventKind::Sold, b, &s(&[3]), None),
            event(EventKind::Joined, a, &[], None),
        ];
        let changes = hold_changes(&events);
        assert_eq!(changes[&SeatId(1)], HoldChange::Held { user: a, until_ms: 100 });
        assert_eq!(changes[&SeatId(2)], HoldChange::Held { user: b, until_ms: 200 });
        assert_eq!(changes[&SeatId(3)], HoldChange::Released { by: None });
        assert_eq!(changes.len(), 3);
    }

    #[test]
    fn every_kind_reads_back_from_its_wire_form() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(EventKind::parse("joined"), None, "the wire form, not the Lua name");
    }

    /// The names after `<table>.` in the code (not inside a longer identifier).
    fn names_after(code: &str, table: &str) -> Vec<String> {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let marker = format!("{table}.");
        code.match_indices(&marker)
            .filter(|(at, _)| !code[..*at].ends_with(ident))
            .map(|(at, _)| code[at + marker.len()..].chars().take_while(|c| ident(*c)).collect())
            .collect()
    }

    #[test]
    fn the_scripts_name_every_kind_through_the_tables_and_only_known_ones() {
        let tables = lua_event_table();
        for (path, text) in crate::store::redis::scripts::tests::scripts() {
            let code: Vec<&str> = text.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
            let code = code.join("\n");
            for call in ["emit(base, '", "end_session(base, uid, '", "announce_seats(base, '"] {
                assert!(!code.contains(call), "{path} spells a kind itself: {call}...");
            }
            for table in ["E", "SC"] {
                for name in names_after(&code, table) {
                    assert!(tables.contains(&format!("{name} = '")), "{path} uses {table}.{name}, which no kind is");
                }
            }
        }
    }
}
