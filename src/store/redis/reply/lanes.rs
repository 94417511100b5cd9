//! The replies of the scripts of a laned show: on home (reserve, admission's plan and
//! commit) and on its lanes (placing a batch).

use super::{Refusal, ScriptReply, count};
use crate::store::{JoinOutcome, Placement};

/// reserve.lua: the first seq of the range home reserved for a lane's batch.
pub struct ReserveReply(pub i64);

impl ScriptReply for ReserveReply {
    const SCRIPT: &'static str = "reserve.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::OtherLayout, Refusal::Paused];

    fn decode(reply: &[i64]) -> Option<Self> {
        match *reply {
            [first] if first > 0 => Some(ReserveReply(first)),
            _ => None,
        }
    }
}

/// place.lua: each user's place on the lane, in the order asked.
pub struct PlaceReply(pub Vec<JoinOutcome>);

impl ScriptReply for PlaceReply {
    const SCRIPT: &'static str = "place.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::FencedOff];

    /// Two numbers a user: created (1) or had (0), and the seq.
    fn decode(reply: &[i64]) -> Option<Self> {
        if reply.is_empty() || !reply.len().is_multiple_of(2) {
            return None;
        }
        let placed = |pair: &[i64]| match *pair {
            [created @ (0 | 1), seq] => Some(placement(seq, created == 1)),
            _ => None,
        };
        reply.chunks_exact(2).map(placed).collect::<Option<_>>().map(PlaceReply)
    }
}

/// A place on a lane: what the lane knows (home has the cursor and the session).
pub fn placement(seq: i64, created: bool) -> JoinOutcome {
    JoinOutcome::Placed(Placement { seq, created, cursor: None, active_until_ms: None, holes_total: None })
}

/// admit_plan.lua: what a laned show's admission tick does on home.
pub struct AdmitPlanReply {
    pub cursor: i64,
    /// How many waiters the lanes may give.
    pub want: usize,
    pub expired: u64,
    /// Reinstated places the plan admitted itself.
    pub admitted: u64,
    /// Someone is still waiting or active.
    pub busy: bool,
    pub ranges: Vec<Range>,
}

/// A range of seqs a lane's batch was placed at.
pub struct Range {
    pub lane: usize,
    pub first: i64,
    pub n: i64,
    pub age_ms: i64,
}

impl ScriptReply for AdmitPlanReply {
    const SCRIPT: &'static str = "admit_plan.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::OtherLayout];

    /// `{cursor, want, expired, admitted, busy}`, then four numbers a range: lane, first
    /// seq, how many, age.
    fn decode(reply: &[i64]) -> Option<Self> {
        let (&[cursor, want, expired, admitted, busy], ranges) = reply.split_first_chunk::<5>()?;
        if !ranges.len().is_multiple_of(4) {
            return None;
        }
        let range = |r: &[i64]| Some(Range { lane: usize::try_from(r[0]).ok()?, first: r[1], n: r[2], age_ms: r[3] });
        Some(AdmitPlanReply {
            cursor,
            want: usize::try_from(want).ok()?,
            expired: count(expired)?,
            admitted: count(admitted)?,
            busy: busy == 1,
            ranges: ranges.chunks_exact(4).map(range).collect::<Option<_>>()?,
        })
    }
}

/// read_block.lua: what a range's block on its lane holds past the cursor. (Its users are
/// ids, so it decodes from Redis' values, not from numbers.)
#[derive(Debug, PartialEq)]
pub enum ReadBlockReply {
    /// The batch is not placed yet: admission waits for it.
    NotPlacedYet,
    /// Read through seq `through`: the users still waiting there, with their seqs.
    Read { through: i64, users: Vec<Vec<u8>>, seqs: Vec<i64> },
    /// Never placed, and now it can't be (fenced off): admission goes past it.
    FencedOff { through: i64 },
}

impl redis::FromRedisValue for ReadBlockReply {
    /// `{status, last seq read, {uid...}, {seq...}}`: status 0 not placed yet, 1 read, 2 fenced off.
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        let (status, through, users, seqs): (i64, i64, Vec<Vec<u8>>, Vec<i64>) =
            redis::FromRedisValue::from_redis_value(value)?;
        match status {
            0 => Ok(ReadBlockReply::NotPlacedYet),
            1 if users.len() == seqs.len() => Ok(ReadBlockReply::Read { through, users, seqs }),
            2 => Ok(ReadBlockReply::FencedOff { through }),
            _ => Err(format!("unexpected reply from read_block.lua: status {status}").into()),
        }
    }
}

/// admit_commit.lua: how many the commit admitted.
pub struct AdmitCommitReply(pub u64);

impl ScriptReply for AdmitCommitReply {
    const SCRIPT: &'static str = "admit_commit.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::CursorMoved];

    /// `{cursor, admitted}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        let [_, admitted] = *reply else { return None };
        count(admitted).map(AdmitCommitReply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::reply::decode;

    #[test]
    fn a_plan_lists_its_ranges_by_four_numbers() {
        let plan: AdmitPlanReply = decode(&[10, 5, 1, 0, 1, 2, 11, 4, 30]).unwrap().unwrap();
        assert_eq!((plan.cursor, plan.want, plan.busy, plan.ranges.len()), (10, 5, true, 1));
        assert_eq!((plan.ranges[0].lane, plan.ranges[0].first, plan.ranges[0].n), (2, 11, 4));
        assert!(decode::<AdmitPlanReply>(&[10, 5, 1, 0, 1, 2]).is_err());
    }

    #[test]
    fn a_lane_refuses_a_range_admission_fenced_off_and_a_commit_a_moved_cursor() {
        assert_eq!(decode::<PlaceReply>(&[Refusal::FencedOff.code()]).unwrap().err(), Some(Refusal::FencedOff));
        assert_eq!(
            decode::<AdmitCommitReply>(&[Refusal::CursorMoved.code()]).unwrap().err(),
            Some(Refusal::CursorMoved)
        );
        let PlaceReply(placed) = decode(&[1, 7, 0, 3]).unwrap().unwrap();
        assert_eq!(placed, [placement(7, true), placement(3, false)]);
    }

    #[test]
    fn a_block_read_says_whether_it_was_placed_read_or_fenced_off() {
        use redis::{FromRedisValue, Value};
        let reply = |status: i64, users: Vec<Value>, seqs: Vec<Value>| {
            Value::Array(vec![Value::Int(status), Value::Int(9), Value::Array(users), Value::Array(seqs)])
        };
        let decoded = |value| ReadBlockReply::from_redis_value(value);
        assert_eq!(decoded(reply(0, vec![], vec![])).unwrap(), ReadBlockReply::NotPlacedYet);
        assert_eq!(decoded(reply(2, vec![], vec![])).unwrap(), ReadBlockReply::FencedOff { through: 9 });
        let read = decoded(reply(1, vec![Value::BulkString(vec![7; 16])], vec![Value::Int(9)])).unwrap();
        assert_eq!(read, ReadBlockReply::Read { through: 9, users: vec![vec![7; 16]], seqs: vec![9] });
        assert!(decoded(reply(1, vec![], vec![Value::Int(9)])).is_err(), "a seq for each user");
        assert!(decoded(reply(3, vec![], vec![])).is_err());
    }

    #[test]
    fn a_reserve_refuses_while_paused() {
        assert_eq!(decode::<ReserveReply>(&[Refusal::Paused.code()]).unwrap().err(), Some(Refusal::Paused));
        assert!(decode::<ReserveReply>(&[0]).is_err(), "seqs start at 1");
    }
}
