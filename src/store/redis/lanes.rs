//! Lanes, work in progress: one show's queue over several hash slots, so that its joins
//! are not bounded by one master (docs/capacity.md, "One show past one master").
//!
//! Built so far: the laned join path (a range of seqs from the show's home slot, then the
//! batch placed on its lane); admission by ranges in seq order (plan on home, read the
//! blocks on their lanes, commit on home if the cursor hasn't moved); a rejoin (home says
//! whether an admitted user's session still runs) and a leave; lane slots on masters of
//! their own. Not built yet: counts on lanes, reinstatement, the lanes' write-behind (and
//! Postgres taking an admission before its join), the draw, the rebuild, the tick lock,
//! the config and API, the fault tests per lane. Nothing in the service uses this module
//! yet: `tests/api/lanes.rs` checks it, and the `hot_master` benchmark measures its join
//! path against the one-slot path.

use std::sync::Arc;

use uuid::Uuid;

use super::keys::ShowKeys;
use super::queue::{NO_CONFIG, PAUSED};
use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{AdmissionTick, JoinOutcome, Placement, StoreError};

/// One laned show: joins, each batch placed on the lane of its fans' membership bucket,
/// and admission.
pub struct LanedShow {
    redis: Arc<Redis>,
    show: ShowId,
    keys: Vec<Arc<ShowKeys>>,
    joins: Vec<Batcher<Uuid, JoinOutcome>>,
}

const FENCED_OFF: i64 = -3;

impl LanedShow {
    /// `lanes`: the lanes' keys (see [`super::keys::Keys::lane`]), in lane order.
    pub fn new(redis: Arc<Redis>, show: ShowId, lanes: Vec<ShowKeys>) -> Self {
        let keys: Vec<Arc<ShowKeys>> = lanes.into_iter().map(Arc::new).collect();
        let limits = Limits { in_flight: 2, ..Limits::per_show("redis", redis.timeout()) };
        let joins = keys
            .iter()
            .enumerate()
            .map(|(lane, keys)| Batcher::new(place_call(redis.clone(), lane, keys.clone()), limits))
            .collect();
        Self { redis, show, keys, joins }
    }

    pub async fn join(&self, user: Uuid) -> Result<JoinOutcome, StoreError> {
        let lane = self.lane_of(&user);
        match self.joins[lane].call(self.show, user).await? {
            JoinOutcome::Placed(place) if !place.created => self.placed_before(lane, user, place).await,
            new_or_closed => Ok(new_or_closed),
        }
    }

    /// A user's lane is fixed by the user's membership bucket.
    fn lane_of(&self, user: &Uuid) -> usize {
        usize::from(super::keys::member_bucket(user)) % self.keys.len()
    }

    /// A user the lane knew: still waiting, or admitted (home has the session, and this
    /// claims it), or admitted and gone since, whose old place the lane forgets before the
    /// user joins again at the back.
    async fn placed_before(&self, lane: usize, user: Uuid, place: Placement) -> Result<JoinOutcome, StoreError> {
        let presence = super::queue::presence(&self.redis, self.show, user).await?;
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

    /// Leaves the queue, or gives the active slot back: home ends a session (admitted users'
    /// memberships are copied there), the lane drops a waiting place. False when the user
    /// had neither.
    pub async fn leave(&self, user: Uuid) -> Result<bool, StoreError> {
        let mut call = self.redis.show_script(&scripts::LEAVE, self.show);
        call.arg(user.as_bytes().as_slice());
        if self.redis.invoke::<i64>(call).await? == 1 {
            return Ok(true);
        }
        let keys = &self.keys[self.lane_of(&user)];
        let mut call = self.redis.script_at(&scripts::LEAVE_LANE, &keys.events(), &keys.base);
        call.arg(user.as_bytes().as_slice());
        Ok(self.redis.invoke::<i64>(call).await? > 0)
    }

    /// One admission tick: the plan on home, the ranges' blocks read on their lanes in seq
    /// order until `max_batch` waiters or a range not placed yet, the commit on home.
    #[tracing::instrument(skip(self), fields(show = %self.show))]
    pub async fn admit(&self, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        let plan = self.plan(max_batch).await?;
        let mut read = Read { cursor: plan.cursor, ranges_done: 0, users: Vec::new(), seqs: Vec::new() };
        for range in &plan.ranges {
            let want = plan.want.saturating_sub(read.users.len());
            if want == 0 || !self.read_range(range, want, &mut read).await? {
                break;
            }
        }
        let committed = if read.cursor == plan.cursor { Some(0) } else { self.commit(plan.cursor, &read).await? };
        let (cursor, admitted) = committed.map_or((plan.cursor, 0), |admitted| (read.cursor, admitted));
        Ok(AdmissionTick { cursor, admitted, expired: plan.expired, holes_total: None })
    }

    async fn plan(&self, max_batch: u32) -> Result<Plan, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT_PLAN, self.show);
        call.arg(max_batch).arg(RANGES_A_TICK);
        let reply: Vec<i64> = self.redis.invoke_replicated(call, "admit").await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(self.show)),
            [cursor, want, expired, ranges @ ..] if ranges.len().is_multiple_of(4) => Ok(Plan {
                cursor: *cursor,
                want: usize::try_from(*want).unwrap_or(0),
                expired: u64::try_from(*expired).unwrap_or(0),
                ranges: ranges
                    .chunks_exact(4)
                    .map(|r| Range { lane: r[0], first: r[1], n: r[2], age_ms: r[3] })
                    .collect(),
            }),
            other => Err(super::queue::unexpected("admit_plan", other)),
        }
    }

    /// Reads what `range` holds past the cursor; false when admission has to stop there
    /// (enough read, or the range is not placed yet).
    async fn read_range(&self, range: &Range, want: usize, read: &mut Read) -> Result<bool, StoreError> {
        let last = range.first + range.n - 1;
        if last <= read.cursor {
            read.ranges_done += 1;
            return Ok(true);
        }
        let keys = usize::try_from(range.lane).ok().and_then(|lane| self.keys.get(lane));
        let keys = keys.ok_or_else(|| StoreError::Internal(anyhow::anyhow!("no lane {} here", range.lane)))?;
        let fence = range.age_ms > 2 * self.redis.timeout().as_millis() as i64;
        let mut call = self.redis.script_at(&scripts::READ_BLOCK, &keys.events(), &keys.base);
        call.arg(range.first).arg(range.n).arg(read.cursor.max(range.first - 1) + 1).arg(want).arg(u8::from(fence));
        // Acknowledged: a fence (the empty block) lost in a failover would let a late
        // placement in behind the cursor.
        let (status, through, users, seqs): (i64, i64, Vec<Vec<u8>>, Vec<i64>) =
            self.redis.invoke_replicated(call, "read_block").await?;
        if status == NOT_PLACED_YET {
            return Ok(false);
        }
        read.cursor = through;
        read.users.extend(users);
        read.seqs.extend(seqs);
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
        let reply: Vec<i64> = self.redis.invoke_replicated(call, "admit").await?;
        match reply.as_slice() {
            [CURSOR_MOVED] => Ok(None),
            [_, admitted] => Ok(Some(u64::try_from(*admitted).unwrap_or(0))),
            other => Err(super::queue::unexpected("admit_commit", other)),
        }
    }
}

/// Ranges one tick looks at: with 256-join batches, more than a tick admits.
const RANGES_A_TICK: i64 = 64;
const NOT_PLACED_YET: i64 = 0;
const CURSOR_MOVED: i64 = -4;

struct Plan {
    cursor: i64,
    want: usize,
    expired: u64,
    ranges: Vec<Range>,
}

struct Range {
    lane: i64,
    first: i64,
    n: i64,
    age_ms: i64,
}

/// What a tick read off the lanes: the cursor past it, the ranges read to their end, the
/// users to admit and their seqs.
struct Read {
    cursor: i64,
    ranges_done: i64,
    users: Vec<Vec<u8>>,
    seqs: Vec<i64>,
}

/// A lane's batch: a range from home, then the placement on the lane; a range admission
/// fenced off meanwhile is given up for a new one (its fans were never answered).
fn place_call(redis: Arc<Redis>, lane: usize, keys: Arc<ShowKeys>) -> BatchCall<Uuid, JoinOutcome> {
    Arc::new(move |show, users: Vec<Uuid>| {
        let (redis, keys) = (redis.clone(), keys.clone());
        Box::pin(async move {
            loop {
                let first = match reserve(&redis, show, lane, users.len()).await? {
                    NO_CONFIG => return Err(StoreError::ShowNotLoaded(show)),
                    PAUSED => return Ok(users.iter().map(|_| JoinOutcome::Closed).collect()),
                    first => first,
                };
                let mut call = redis.script_at(&scripts::PLACE, &keys.events(), &keys.base);
                call.arg(first);
                for user in &users {
                    call.arg(user.as_bytes().as_slice());
                }
                let reply: Vec<i64> = redis.invoke_replicated(call, "place").await?;
                if reply != [FENCED_OFF] {
                    return placements(&reply);
                }
            }
        })
    })
}

async fn reserve(redis: &Redis, show: ShowId, lane: usize, n: usize) -> Result<i64, StoreError> {
    let mut call = redis.show_script(&scripts::RESERVE, show);
    call.arg(lane).arg(n);
    let reply: Vec<i64> = redis.invoke_replicated(call, "reserve").await?;
    reply.first().copied().ok_or_else(|| super::queue::unexpected("reserve", &reply))
}

/// Two numbers per user: created (1) or not (0), and the seq.
fn placements(reply: &[i64]) -> Result<Vec<JoinOutcome>, StoreError> {
    if reply.is_empty() || !reply.len().is_multiple_of(2) {
        return Err(super::queue::unexpected("place", reply));
    }
    let placed = |pair: &[i64]| {
        JoinOutcome::Placed(Placement {
            seq: pair[1],
            created: pair[0] == 1,
            cursor: None,
            active_until_ms: None,
            holes_total: None,
        })
    };
    Ok(reply.chunks_exact(2).map(placed).collect())
}
