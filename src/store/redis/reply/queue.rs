//! The replies of the scripts of a show's queue on its home slot.

use super::{Refusal, ScriptReply, count, time};
use crate::store::{AdmissionTick, JoinOutcome, Placement, Presence, QueueCounts};

/// join.lua: each user's place, in the order asked.
pub struct JoinReply(pub Vec<JoinOutcome>);

impl ScriptReply for JoinReply {
    const SCRIPT: &'static str = "join.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::OtherLayout, Refusal::Paused];

    /// The seqs the holes cover, then four numbers a user: `{1, seq, 0, 0}` for a new
    /// place, `{0, seq, cursor, active until or 0}` for the place the user had,
    /// `{R.PAUSED, 0, 0, 0}` while the queue is paused.
    fn decode(reply: &[i64]) -> Option<Self> {
        let (holes_total, places) = reply.split_first()?;
        if places.is_empty() || !places.len().is_multiple_of(4) {
            return None;
        }
        let placed = |seq, created, cursor, active_until_ms| {
            JoinOutcome::Placed(Placement { seq, created, cursor, active_until_ms, holes_total: Some(*holes_total) })
        };
        let outcome = |place: &[i64]| match *place {
            [code, 0, 0, 0] if code == Refusal::Paused.code() => Some(JoinOutcome::Closed),
            [1, seq, 0, 0] => Some(placed(seq, true, None, None)),
            [0, seq, cursor, until] => Some(placed(seq, false, Some(cursor), time(until))),
            _ => None,
        };
        places.chunks_exact(4).map(outcome).collect::<Option<_>>().map(JoinReply)
    }
}

/// admit.lua: one admission tick on one slot.
pub struct AdmitReply(pub AdmissionTick);

impl ScriptReply for AdmitReply {
    const SCRIPT: &'static str = "admit.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::OtherLayout];

    /// `{cursor, admitted, expired, seqs the holes cover, busy}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        let [cursor, admitted, expired, holes_total, busy] = *reply else { return None };
        Some(AdmitReply(AdmissionTick {
            cursor,
            admitted: count(admitted)?,
            expired: count(expired)?,
            holes_total: Some(holes_total),
            busy: busy == 1,
        }))
    }
}

/// counts.lua: home's counters, and on a laned show how many were admitted off its lanes.
pub struct CountsReply {
    pub home: QueueCounts,
    pub off_lanes: Option<i64>,
}

impl ScriptReply for CountsReply {
    const SCRIPT: &'static str = "counts.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig];

    /// `{waiting, active, joined, admitted, cursor}`, then on a laned show `off_lanes`.
    fn decode(reply: &[i64]) -> Option<Self> {
        let (&[waiting, active, joined, admitted, cursor], off_lanes) = reply.split_first_chunk::<5>()?;
        let off_lanes = match *off_lanes {
            [] => None,
            [off_lanes] => Some(off_lanes),
            _ => return None,
        };
        let home = QueueCounts {
            waiting: count(waiting)?,
            active: count(active)?,
            joined_total: count(joined)?,
            admitted_total: count(admitted)?,
            cursor,
        };
        Some(CountsReply { home, off_lanes })
    }
}

/// presence.lua: whether the user is active, or still waits.
pub struct PresenceReply(pub Presence);

impl ScriptReply for PresenceReply {
    const SCRIPT: &'static str = "presence.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig];

    /// `{cursor, active until or 0, waiting (1) or not (0)}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        let [cursor, until, waiting] = *reply else { return None };
        Some(PresenceReply(Presence { cursor, active_until_ms: time(until), waiting: waiting == 1 }))
    }
}

/// leave.lua: what home ended, with the cursor.
#[derive(Debug, PartialEq)]
pub enum LeaveReply {
    /// The place (waiting or admitted) at `seq` ended.
    Left { cursor: i64, seq: i64 },
    /// Home had no place of the user.
    NoPlace { cursor: i64 },
    /// Home had no place of the user, and the show is laned: it may wait on its lane.
    NotOnHome { cursor: i64 },
}

impl ScriptReply for LeaveReply {
    const SCRIPT: &'static str = "leave.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::OtherLayout];

    /// `{1, cursor, seq}`, `{0, cursor}`, or `{R.OTHER_LAYOUT, cursor}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        match *reply {
            [1, cursor, seq] => Some(LeaveReply::Left { cursor, seq }),
            [0, cursor] => Some(LeaveReply::NoPlace { cursor }),
            [code, cursor] if code == Refusal::OtherLayout.code() => Some(LeaveReply::NotOnHome { cursor }),
            _ => None,
        }
    }
}

impl LeaveReply {
    pub fn cursor(&self) -> i64 {
        match self {
            LeaveReply::Left { cursor, .. } | LeaveReply::NoPlace { cursor } | LeaveReply::NotOnHome { cursor } => {
                *cursor
            }
        }
    }
}

/// reinstate.lua: the place given back, or none needed.
pub enum ReinstateReply {
    Reinstated,
    /// The user has a place: nothing changed.
    HadAPlace,
}

impl ScriptReply for ReinstateReply {
    const SCRIPT: &'static str = "reinstate.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig];

    /// `{1}` or `{0}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        match *reply {
            [1] => Some(ReinstateReply::Reinstated),
            [0] => Some(ReinstateReply::HadAPlace),
            _ => None,
        }
    }
}

/// close_draw.lua: the seq before the pre-queue's.
pub struct CloseDrawReply(pub i64);

impl ScriptReply for CloseDrawReply {
    const SCRIPT: &'static str = "close_draw.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig];

    fn decode(reply: &[i64]) -> Option<Self> {
        match *reply {
            [base] if base >= 0 => Some(CloseDrawReply(base)),
            _ => None,
        }
    }
}

/// place_drawn.lua: the drawn placed, now or before.
pub enum PlaceDrawnReply {
    Placed,
    PlacedBefore,
}

impl ScriptReply for PlaceDrawnReply {
    const SCRIPT: &'static str = "place_drawn.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::StagingIncomplete];

    fn decode(reply: &[i64]) -> Option<Self> {
        match *reply {
            [1] => Some(PlaceDrawnReply::Placed),
            [0] => Some(PlaceDrawnReply::PlacedBefore),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::reply::decode;

    #[test]
    fn a_join_reply_gives_new_places_places_had_and_a_paused_queue_in_the_order_asked() {
        let paused = Refusal::Paused.code();
        let JoinReply(outcomes) = decode(&[3, 1, 7, 0, 0, 0, 5, 4, 9000, paused, 0, 0, 0]).unwrap().unwrap();
        let place = |seq, created, cursor, until| {
            JoinOutcome::Placed(Placement { seq, created, cursor, active_until_ms: until, holes_total: Some(3) })
        };
        assert_eq!(outcomes, [place(7, true, None, None), place(5, false, Some(4), Some(9000)), JoinOutcome::Closed]);
    }

    #[test]
    fn a_join_reply_refuses_for_a_show_not_loaded_or_of_another_layout() {
        for refusal in [Refusal::NoConfig, Refusal::OtherLayout] {
            assert_eq!(decode::<JoinReply>(&[refusal.code()]).unwrap().err(), Some(refusal));
        }
        assert!(decode::<JoinReply>(&[0, 1, 7]).is_err(), "a place is four numbers");
    }

    #[test]
    fn counts_have_off_lanes_only_on_a_laned_show() {
        let CountsReply { home, off_lanes } = decode(&[2, 1, 5, 3, 3]).unwrap().unwrap();
        assert_eq!((home.waiting, home.joined_total, off_lanes), (2, 5, None));
        let laned: CountsReply = decode(&[2, 1, 5, 3, 3, 1]).unwrap().unwrap();
        assert_eq!(laned.off_lanes, Some(1));
    }

    #[test]
    fn a_leave_reply_tells_a_place_left_none_and_one_that_may_be_on_a_lane() {
        let decoded = |reply: &[i64]| decode::<LeaveReply>(reply).unwrap().unwrap();
        assert_eq!(decoded(&[1, 4, 6]), LeaveReply::Left { cursor: 4, seq: 6 });
        assert_eq!(decoded(&[0, 4]), LeaveReply::NoPlace { cursor: 4 });
        assert_eq!(decoded(&[Refusal::OtherLayout.code(), 4]), LeaveReply::NotOnHome { cursor: 4 });
    }

    #[test]
    fn the_draw_scripts_refuse_with_their_own_codes() {
        assert_eq!(
            decode::<PlaceDrawnReply>(&[Refusal::StagingIncomplete.code()]).unwrap().err(),
            Some(Refusal::StagingIncomplete)
        );
        assert_eq!(decode::<CloseDrawReply>(&[Refusal::NoConfig.code()]).unwrap().err(), Some(Refusal::NoConfig));
        assert!(decode::<ReinstateReply>(&[2]).is_err());
    }
}
