//! Lanes: one show's queue over several hash slots, so that its joins are not bounded by
//! one master (docs/capacity.md, "One show past one master"); its lanes are its layout
//! (see [`super::layout`]).
//!
//! A join goes to the lane of the fan's membership bucket: a range of seqs from home, then
//! the batch placed on its lane (memberships and the range's block in one script, with a
//! join event on the lane's stream). Admission goes by ranges in seq order: a plan on home
//! (sessions, bucket, reinstated places, the next ranges), the blocks read on their lanes,
//! a commit on home if the cursor hasn't moved. Sessions, holds and everything after
//! admission live on home as on one slot. Each lane's stream is written behind by its own
//! lease (see `events`), and Postgres takes an admission that arrives before its join.
//!
//! Every script on home that a laned show answers differently checks the layout the caller
//! thinks it has (`StoreError::LayoutChanged`: the layout is read again). A fair
//! opening's drawn wait on home, admitted first by the plan. A show rebuilt from Postgres
//! runs on one slot.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::draw::LaneMembers;
use super::keys::ShowKeys;
use super::reply::{
    AdmitCommitReply, AdmitPlanReply, CountsReply, LeaveReply, PlaceReply, Range, ReadBlockReply, Refusal,
    ReserveReply, placement, unexpected,
};
use super::{Redis, home, scripts};
use crate::domain::ShowId;
use crate::domain::queue::Hole;
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{AdmissionTick, JoinOutcome, Placement, Presence, QueueCounts, QueueStore, StoreError};

/// One laned show's queue: joins, each batch placed on the lane of its fans' membership
/// bucket, admission, leaves, counts. Each call is about this show.
pub struct LanedQueue {
    redis: Arc<Redis>,
    show: ShowId,
    /// As in the show's config hash: what home's scripts check.
    tags: String,
    keys: Vec<Arc<ShowKeys>>,
    joins: Vec<Batcher<Uuid, JoinOutcome>>,
}

impl LanedQueue {
    /// `tags`: the show's lane tags, comma-separated, in lane order.
    pub fn new(redis: Arc<Redis>, show: ShowId, tags: &str) -> Self {
        let keys: Vec<Arc<ShowKeys>> = tags.split(',').map(|tag| Arc::new(redis.keys.lane(tag))).collect();
        let limits = Limits { in_flight: 2, ..Limits::per_show("redis", redis.timeout()) };
        let joins = keys
            .iter()
            .enumerate()
            .map(|(lane, keys)| Batcher::new(place_call(redis.clone(), lane, tags.to_string(), keys.clone()), limits))
            .collect();
        Self { redis, show, tags: tags.to_string(), keys, joins }
    }

    /// A user's lane is fixed by the user's membership bucket.
    fn lane_of(&self, user: &Uuid) -> usize {
        usize::from(super::keys::member_bucket(user)) % self.keys.len()
    }

    /// A user the lane knew: still waiting, or admitted (home has the session, and this
    /// claims it), or admitted and gone since, whose old place the lane forgets before the
    /// user joins again at the back.
    async fn placed_before(&self, lane: usize, user: Uuid, place: Placement) -> Result<JoinOutcome, StoreError> {
        let presence = home::presence(&self.redis, self.show, user).await?;
        if place.seq > presence.cursor || presence.active_until_ms.is_some() {
            let cursor = Some(presence.cursor);
            return Ok(JoinOutcome::Placed(Placement { cursor, active_until_ms: presence.active_until_ms, ..place }));
        }
        let keys = &self.keys[lane];
        let mut call = self.redis.script_at(&scripts::FORGET, &keys.events(), &keys.base);
        call.arg(user.as_bytes().as_slice()).arg(place.seq);
        self.redis.invoke_replicated::<i64>(call, "forget").await?;
        self.joins[lane].call(self.show, user).await
    }

    /// The seq of the user's membership on their lane.
    async fn lane_seq(&self, user: Uuid) -> Result<Option<i64>, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.keys[self.lane_of(&user)].member_bucket(&user)).arg(user.as_bytes().as_slice());
        self.redis.query(cmd).await
    }

    /// How many wait on the lanes: places made there, less those left, less `off_lanes`
    /// admitted.
    async fn waiting_on_lanes(&self, off_lanes: i64) -> Result<u64, StoreError> {
        let lanes = self.keys.iter().map(|keys| async move {
            let (placed, left): (Option<i64>, Option<i64>) =
                self.redis.query(redis::Cmd::mget(&[keys.placed(), keys.left_waiting()])).await?;
            Ok::<i64, StoreError>(placed.unwrap_or(0) - left.unwrap_or(0))
        });
        let on_lanes = futures::future::try_join_all(lanes).await?.iter().sum::<i64>() - off_lanes;
        Ok(u64::try_from(on_lanes).unwrap_or(0))
    }

    /// One admission tick: the plan on home, the ranges' blocks read on their lanes in seq
    /// order until `max_batch` waiters or a range not placed yet, the commit on home.
    async fn tick(&self, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        let plan = self.plan(max_batch).await?;
        let reinstated = plan.admitted;
        let mut read = Read { cursor: plan.cursor, ranges_done: 0, users: Vec::new(), seqs: Vec::new() };
        for range in &plan.ranges {
            let want = plan.want.saturating_sub(read.users.len());
            if want == 0 || !self.read_range(range, want, &mut read).await? {
                break;
            }
        }
        let committed = if read.cursor == plan.cursor { Some(0) } else { self.commit(plan.cursor, &read).await? };
        let (cursor, admitted) = committed.map_or((plan.cursor, 0), |admitted| (read.cursor, admitted));
        let (admitted, expired) = (admitted + reinstated, plan.expired);
        Ok(AdmissionTick { cursor, admitted, expired, holes_total: None, busy: plan.busy })
    }

    async fn plan(&self, max_batch: u32) -> Result<AdmitPlanReply, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT_PLAN, self.show);
        call.arg(max_batch).arg(RANGES_A_TICK).arg(&self.tags);
        call.arg(self.redis.keys.cursor_channel()).arg(self.show);
        let reply = self.redis.ask_replicated::<AdmitPlanReply>(call, "admit").await?;
        reply.map_err(|refusal| refusal.into_error(self.show))
    }

    /// Reads what `range` holds past the cursor; false when admission has to stop there
    /// (enough read, or the range is not placed yet).
    async fn read_range(&self, range: &Range, want: usize, read: &mut Read) -> Result<bool, StoreError> {
        let last = range.first + range.n - 1;
        if last <= read.cursor {
            read.ranges_done += 1;
            return Ok(true);
        }
        let keys = self
            .keys
            .get(range.lane)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("no lane {} here", range.lane)))?;
        let fence = range.age_ms > 2 * self.redis.timeout().as_millis() as i64;
        let mut call = self.redis.script_at(&scripts::READ_BLOCK, &keys.events(), &keys.base);
        call.arg(range.first).arg(range.n).arg(read.cursor.max(range.first - 1) + 1).arg(want).arg(u8::from(fence));
        call.arg(BLOCK_KEPT.as_millis() as u64);
        // A fence (the empty block) is acknowledged: lost in a failover, it would let a late
        // placement in behind the cursor. A plain read reads blocks placed acknowledged.
        let reply: ReadBlockReply = if fence {
            self.redis.invoke_replicated(call, "read_block").await?
        } else {
            self.redis.invoke(call).await?
        };
        let through = match reply {
            ReadBlockReply::NotPlacedYet => return Ok(false),
            ReadBlockReply::FencedOff { through } => through,
            ReadBlockReply::Read { through, users, seqs } => {
                read.users.extend(users);
                read.seqs.extend(seqs);
                through
            }
        };
        read.cursor = through;
        if through == last {
            read.ranges_done += 1;
        }
        Ok(through == last)
    }

    /// How many were admitted, or `None` when another instance's tick moved the cursor first.
    async fn commit(&self, expected: i64, read: &Read) -> Result<Option<u64>, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT_COMMIT, self.show);
        call.arg(expected).arg(read.cursor).arg(read.ranges_done);
        call.arg(self.redis.keys.cursor_channel()).arg(self.show);
        for (user, seq) in read.users.iter().zip(&read.seqs) {
            call.arg(user.as_slice()).arg(*seq);
        }
        match self.redis.ask_replicated::<AdmitCommitReply>(call, "admit").await? {
            Ok(AdmitCommitReply(admitted)) => Ok(Some(admitted)),
            Err(Refusal::CursorMoved) => Ok(None),
            Err(refusal) => Err(refusal.into_error(self.show)),
        }
    }
}

#[async_trait]
impl QueueStore for LanedQueue {
    async fn join(&self, _show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        let lane = self.lane_of(&user);
        match self.joins[lane].call(self.show, user).await? {
            JoinOutcome::Placed(place) if !place.created => self.placed_before(lane, user, place).await,
            new_or_closed => Ok(new_or_closed),
        }
    }

    async fn presence(&self, _show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        home::presence(&self.redis, self.show, user).await
    }

    /// Gives back a place a failover lost: on home, whose admission plan takes reinstated
    /// places first, and on the lane, so that joining again finds it.
    async fn reinstate(&self, _show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        home::reinstate(&self.redis, self.show, user, seq).await?;
        let lane = &self.keys[self.lane_of(&user)];
        let cmd = redis::Cmd::hset_nx(lane.member_bucket(&user), user.as_bytes().as_slice(), seq);
        self.redis.query::<i64>(cmd).await.map(drop)
    }

    /// Leaves the queue, or gives the active slot back: home ends a session (admitted users'
    /// memberships are copied there), the lane drops a waiting place, or forgets one the
    /// cursor passed. False when the user had neither.
    async fn leave(&self, _show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        let home = home::leave(&self.redis, self.show, user).await?;
        let (ended, ended_seq) = match home {
            LeaveReply::Left { seq, .. } => (true, seq),
            LeaveReply::NoPlace { .. } | LeaveReply::NotOnHome { .. } => (false, 0),
        };
        let keys = &self.keys[self.lane_of(&user)];
        let mut call = self.redis.script_at(&scripts::LEAVE_LANE, &keys.events(), &keys.base);
        call.arg(user.as_bytes().as_slice()).arg(home.cursor()).arg(ended_seq);
        let left_waiting = self.redis.invoke::<i64>(call).await? > 0;
        Ok(ended || left_waiting)
    }

    #[tracing::instrument(skip(self), fields(show = %self.show))]
    async fn admit(&self, _show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        self.tick(max_batch).await
    }

    async fn cursor(&self, _show: ShowId) -> Result<i64, StoreError> {
        home::cursor(&self.redis, self.show).await
    }

    /// Home's counts (the drawn and reinstated waiting there, the active set, seqs handed
    /// out, the cursor) with the lanes' waiting.
    async fn counts(&self, _show: ShowId) -> Result<QueueCounts, StoreError> {
        match home::counts(&self.redis, self.show).await? {
            CountsReply { home, off_lanes: Some(off_lanes) } => {
                Ok(QueueCounts { waiting: home.waiting + self.waiting_on_lanes(off_lanes).await?, ..home })
            }
            CountsReply { off_lanes: None, .. } => Err(StoreError::LayoutChanged(self.show)),
        }
    }

    async fn holes(&self, _show: ShowId) -> Result<Vec<Hole>, StoreError> {
        home::holes(&self.redis, self.show).await
    }

    /// Admitted or given back (home has it), or waiting on the lane. A lane forgets a place
    /// admission passed only when its fan joins again or leaves: one behind the cursor
    /// that home doesn't know (the stay ended) is no place.
    async fn place_of(&self, _show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        if let Some(seq) = home::member_seq(&self.redis, self.show, user).await? {
            return Ok(Some(seq));
        }
        let Some(seq) = self.lane_seq(user).await? else { return Ok(None) };
        Ok((seq > home::cursor(&self.redis, self.show).await?).then_some(seq))
    }

    async fn close_for_draw(&self, _show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        home::close_for_draw(&self.redis, self.show, pre_queue_size).await
    }

    /// Places a fair opening's drawn pre-queue as on one slot (on home, which admits them
    /// first), and each drawn fan's membership on their lane too, where joining again and
    /// leaving look.
    async fn place_drawn(&self, _show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        let mut lanes: Vec<LaneMembers> = self.keys.iter().map(|keys| (keys.clone(), Vec::new())).collect();
        for (user, seq) in users.iter().zip(base + 1..) {
            lanes[self.lane_of(user)].1.push((*user, seq));
        }
        super::draw::place_drawn(&self.redis, self.show, base, users, &lanes).await
    }

    async fn spend_challenge(&self, _show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        home::spend_challenge(&self.redis, self.show, id, expires_at_ms).await
    }
}

/// Ranges one tick looks at: with 256-join batches, more than a tick admits.
const RANGES_A_TICK: i64 = 64;
/// How long a block read to its end is kept: a tick whose commit failed reads it again.
const BLOCK_KEPT: Duration = Duration::from_secs(600);

/// What a tick read off the lanes: the cursor past it, the ranges read to their end, the
/// users to admit and their seqs.
struct Read {
    cursor: i64,
    ranges_done: i64,
    users: Vec<Vec<u8>>,
    seqs: Vec<i64>,
}

/// A lane's batch: the places its users have on the lane already, then for the others a
/// range from home and the placement on the lane; a range admission fenced off meanwhile is
/// given up for a new one (its fans were never answered).
fn place_call(redis: Arc<Redis>, lane: usize, tags: String, keys: Arc<ShowKeys>) -> BatchCall<Uuid, JoinOutcome> {
    Arc::new(move |show, users: Vec<Uuid>| {
        let (redis, keys, tags) = (redis.clone(), keys.clone(), tags.clone());
        Box::pin(async move {
            let known = places_of(&redis, &keys, &users).await?;
            let new: Vec<Uuid> = users.iter().zip(&known).filter(|(_, seq)| seq.is_none()).map(|(u, _)| *u).collect();
            let mut placed = match new.is_empty() {
                true => Vec::new(),
                false => place_new(&redis, show, lane, &tags, &keys, &new).await?,
            }
            .into_iter();
            known
                .into_iter()
                .map(|seq| match seq {
                    Some(seq) => Ok(placement(seq, false)),
                    None => placed.next().ok_or_else(|| unexpected("place", &[])),
                })
                .collect()
        })
    })
}

/// The seq of each user's place on the lane, if they have one.
async fn places_of(redis: &Redis, keys: &ShowKeys, users: &[Uuid]) -> Result<Vec<Option<i64>>, StoreError> {
    let mut call = redis.script_at(&scripts::PLACES_OF, &keys.events(), &keys.base);
    for user in users {
        call.arg(user.as_bytes().as_slice());
    }
    let reply: Vec<i64> = redis.invoke(call).await?;
    if reply.len() != users.len() {
        return Err(unexpected("places_of", &reply));
    }
    Ok(reply.into_iter().map(|seq| (seq > 0).then_some(seq)).collect())
}

/// New places for users the lane doesn't know: a range from home, placed on the lane.
async fn place_new(
    redis: &Redis,
    show: ShowId,
    lane: usize,
    tags: &str,
    keys: &ShowKeys,
    users: &[Uuid],
) -> Result<Vec<JoinOutcome>, StoreError> {
    loop {
        let mut reserve = redis.show_script(&scripts::RESERVE, show);
        reserve.arg(lane).arg(users.len()).arg(tags);
        let first = match redis.ask_replicated::<ReserveReply>(reserve, "reserve").await? {
            Ok(ReserveReply(first)) => first,
            Err(Refusal::Paused) => return Ok(users.iter().map(|_| JoinOutcome::Closed).collect()),
            Err(refusal) => return Err(refusal.into_error(show)),
        };
        let mut call = redis.script_at(&scripts::PLACE, &keys.events(), &keys.base);
        call.arg(first);
        for user in users {
            call.arg(user.as_bytes().as_slice());
        }
        match redis.ask_replicated::<PlaceReply>(call, "place").await? {
            Ok(PlaceReply(placed)) => return Ok(placed),
            Err(Refusal::FencedOff) => continue,
            Err(refusal) => return Err(refusal.into_error(show)),
        }
    }
}
