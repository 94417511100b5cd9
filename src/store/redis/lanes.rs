//! Lanes: one show's queue over several hash slots, so that its joins are not bounded by
//! one master (docs/capacity.md, "One show past one master"). A show asks for them in its
//! config (`lanes`); the tags, picked on masters of their own when the show is loaded
//! before anyone joined, are its layout, kept in its config hash on home (`lane_tags`).
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
//! thinks it has (`StoreError::LayoutChanged`: [`Layouts`] reads it again). A fair
//! opening's drawn wait on home, admitted first by the plan. A show rebuilt from Postgres
//! runs on one slot.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use uuid::Uuid;

use super::draw::LaneMembers;
use super::keys::{ShowKeys, lane_tags};
use super::queue::{NO_CONFIG, PAUSED, unexpected};
use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{AdmissionTick, JoinOutcome, Placement, QueueCounts, StoreError};

/// A script's answer when the show's lanes are not the caller's.
pub(super) const OTHER_LAYOUT: i64 = -5;

/// What this instance knows of each show's layout: one slot (`None`) or its lanes.
pub(super) struct Layouts {
    redis: Arc<Redis>,
    shows: RwLock<HashMap<ShowId, Option<Arc<LanedShow>>>>,
}

impl Layouts {
    pub(super) fn new(redis: Arc<Redis>) -> Self {
        Self { redis, shows: RwLock::default() }
    }

    /// The show's lanes, as last read from its config hash (read once, then on a change).
    pub(super) async fn of(&self, show: ShowId) -> Result<Option<Arc<LanedShow>>, StoreError> {
        if let Some(known) = self.shows.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(known.clone());
        }
        let config = self.redis.keys.show(show).config();
        let tags: Option<String> = self.redis.query(redis::Cmd::hget(config, "lane_tags")).await?;
        let laned = tags.map(|tags| Arc::new(LanedShow::new(self.redis.clone(), show, &tags)));
        self.shows.write().unwrap_or_else(|e| e.into_inner()).insert(show, laned.clone());
        Ok(laned)
    }

    /// Forgets what it knew of the show's layout (a script said it changed).
    pub(super) fn forget(&self, show: ShowId) {
        self.shows.write().unwrap_or_else(|e| e.into_inner()).remove(&show);
    }
}

/// The lane tags a show asking for `lanes` lanes gets on this deployment, comma-separated:
/// one per master at most, none ('') for one lane or one master.
#[tracing::instrument(skip(redis))]
pub(super) async fn tags_for(redis: &Redis, show: ShowId, lanes: u32) -> Result<String, StoreError> {
    if lanes <= 1 || !redis.is_cluster() {
        return Ok(String::new());
    }
    let nodes: String = redis.query(redis::cmd("CLUSTER").arg("NODES").clone()).await?;
    let masters = slot_masters(&nodes);
    let master_of = |slot: u16| masters.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&slot)).map(|m| m.2.clone());
    let tags = lane_tags(show, lanes as usize, master_of);
    Ok(if tags.len() > 1 { tags.join(",") } else { String::new() })
}

/// The slot ranges of each master in a `CLUSTER NODES` answer, by the master's address.
fn slot_masters(nodes: &str) -> Vec<(u16, u16, String)> {
    let mut ranges = Vec::new();
    for fields in nodes.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()) {
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        if !flags.split(',').any(|f| f == "master") {
            continue;
        }
        let address = address.split('@').next().unwrap_or_default().to_string();
        // Slots being migrated are listed as `[slot->-node]`: the node still serves them.
        for range in fields.iter().skip(8).filter(|r| !r.starts_with('[')) {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(lo), Ok(hi)) = (lo.parse(), hi.parse()) {
                ranges.push((lo, hi, address.clone()));
            }
        }
    }
    ranges
}

/// One laned show: joins, each batch placed on the lane of its fans' membership bucket,
/// admission, leaves, counts.
pub struct LanedShow {
    redis: Arc<Redis>,
    show: ShowId,
    /// As in the show's config hash: what home's scripts check.
    tags: String,
    keys: Vec<Arc<ShowKeys>>,
    joins: Vec<Batcher<Uuid, JoinOutcome>>,
}

const FENCED_OFF: i64 = -3;

impl LanedShow {
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
    /// memberships are copied there), the lane drops a waiting place, or forgets one the
    /// cursor passed. False when the user had neither.
    pub async fn leave(&self, user: Uuid) -> Result<bool, StoreError> {
        let (ended, cursor, ended_seq) = super::queue::leave_home(&self.redis, self.show, user).await?;
        let keys = &self.keys[self.lane_of(&user)];
        let mut call = self.redis.script_at(&scripts::LEAVE_LANE, &keys.events(), &keys.base);
        call.arg(user.as_bytes().as_slice()).arg(cursor).arg(ended_seq);
        let left_waiting = self.redis.invoke::<i64>(call).await? > 0;
        Ok(ended == 1 || left_waiting)
    }

    /// The seq of the user's place: admitted or given back (home has it), or waiting on the
    /// lane. A lane forgets a place admission passed only when its fan joins again or
    /// leaves: one behind the cursor that home doesn't know (the stay ended) is no place.
    pub async fn place_of(&self, user: Uuid) -> Result<Option<i64>, StoreError> {
        let home = self.redis.keys.show(self.show);
        if let Some(seq) = self.member_seq(&home, user).await? {
            return Ok(Some(seq));
        }
        let Some(seq) = self.member_seq(&self.keys[self.lane_of(&user)], user).await? else { return Ok(None) };
        let cursor: Option<i64> = self.redis.query(redis::Cmd::get(home.cursor())).await?;
        Ok((seq > cursor.unwrap_or_default()).then_some(seq))
    }

    async fn member_seq(&self, keys: &ShowKeys, user: Uuid) -> Result<Option<i64>, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(keys.member_bucket(&user)).arg(user.as_bytes().as_slice());
        self.redis.query(cmd).await
    }

    /// Gives back a place a failover lost (see `QueueStore::reinstate`): on home, whose
    /// admission plan takes reinstated places first, and on the lane, so that joining
    /// again finds it.
    pub async fn reinstate(&self, user: Uuid, seq: i64) -> Result<(), StoreError> {
        super::queue::reinstate(&self.redis, self.show, user, seq).await?;
        let lane = &self.keys[self.lane_of(&user)];
        let cmd = redis::Cmd::hset_nx(lane.member_bucket(&user), user.as_bytes().as_slice(), seq);
        self.redis.query::<i64>(cmd).await.map(drop)
    }

    /// Home's counts (the drawn and reinstated waiting there, the active set, seqs handed
    /// out, the cursor) with the lanes' waiting: places made there, less those left, less
    /// `off_lanes` admitted.
    pub async fn counts(&self, home: QueueCounts, off_lanes: i64) -> Result<QueueCounts, StoreError> {
        let lanes = self.keys.iter().map(|keys| async move {
            let (placed, left): (Option<i64>, Option<i64>) =
                self.redis.query(redis::Cmd::mget(&[keys.placed(), keys.left_waiting()])).await?;
            Ok::<i64, StoreError>(placed.unwrap_or(0) - left.unwrap_or(0))
        });
        let on_lanes = futures::future::try_join_all(lanes).await?.iter().sum::<i64>() - off_lanes;
        Ok(QueueCounts { waiting: home.waiting + u64::try_from(on_lanes).unwrap_or(0), ..home })
    }

    /// Places a fair opening's drawn pre-queue as on one slot (on home, which admits them
    /// first), and each drawn fan's membership on their lane too, where joining again and
    /// leaving look.
    pub async fn place_drawn(&self, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        let mut lanes: Vec<LaneMembers> = self.keys.iter().map(|keys| (keys.clone(), Vec::new())).collect();
        for (user, seq) in users.iter().zip(base + 1..) {
            lanes[self.lane_of(user)].1.push((*user, seq));
        }
        super::draw::place_drawn(&self.redis, self.show, base, users, &lanes).await
    }

    /// One admission tick: the plan on home, the ranges' blocks read on their lanes in seq
    /// order until `max_batch` waiters or a range not placed yet, the commit on home.
    #[tracing::instrument(skip(self), fields(show = %self.show))]
    pub async fn admit(&self, max_batch: u32) -> Result<AdmissionTick, StoreError> {
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

    async fn plan(&self, max_batch: u32) -> Result<Plan, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT_PLAN, self.show);
        call.arg(max_batch).arg(RANGES_A_TICK).arg(&self.tags);
        call.arg(self.redis.keys.cursor_channel()).arg(self.show);
        let reply: Vec<i64> = self.redis.invoke_replicated(call, "admit").await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(self.show)),
            [OTHER_LAYOUT] => Err(StoreError::LayoutChanged(self.show)),
            [cursor, want, expired, admitted, busy, ranges @ ..] if ranges.len().is_multiple_of(4) => Ok(Plan {
                cursor: *cursor,
                busy: *busy == 1,
                want: usize::try_from(*want).unwrap_or(0),
                expired: u64::try_from(*expired).unwrap_or(0),
                admitted: u64::try_from(*admitted).unwrap_or(0),
                ranges: ranges
                    .chunks_exact(4)
                    .map(|r| Range { lane: r[0], first: r[1], n: r[2], age_ms: r[3] })
                    .collect(),
            }),
            other => Err(unexpected("admit_plan", other)),
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
        call.arg(BLOCK_KEPT.as_millis() as u64);
        // A fence (the empty block) is acknowledged: lost in a failover, it would let a late
        // placement in behind the cursor. A plain read reads blocks placed acknowledged.
        let (status, through, users, seqs): (i64, i64, Vec<Vec<u8>>, Vec<i64>) = if fence {
            self.redis.invoke_replicated(call, "read_block").await?
        } else {
            self.redis.invoke(call).await?
        };
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
            other => Err(unexpected("admit_commit", other)),
        }
    }
}

/// Ranges one tick looks at: with 256-join batches, more than a tick admits.
const RANGES_A_TICK: i64 = 64;
/// How long a block read to its end is kept: a tick whose commit failed reads it again.
const BLOCK_KEPT: Duration = Duration::from_secs(600);
const NOT_PLACED_YET: i64 = 0;
const CURSOR_MOVED: i64 = -4;

struct Plan {
    cursor: i64,
    want: usize,
    expired: u64,
    /// Reinstated places the plan admitted itself.
    admitted: u64,
    /// Someone is still waiting or active.
    busy: bool,
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
                    Some(seq) => Ok(JoinOutcome::Placed(placement(seq, false))),
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
        let first = match reserve(redis, show, lane, tags, users.len()).await? {
            NO_CONFIG => return Err(StoreError::ShowNotLoaded(show)),
            OTHER_LAYOUT => return Err(StoreError::LayoutChanged(show)),
            PAUSED => return Ok(users.iter().map(|_| JoinOutcome::Closed).collect()),
            first => first,
        };
        let mut call = redis.script_at(&scripts::PLACE, &keys.events(), &keys.base);
        call.arg(first);
        for user in users {
            call.arg(user.as_bytes().as_slice());
        }
        let reply: Vec<i64> = redis.invoke_replicated(call, "place").await?;
        if reply != [FENCED_OFF] {
            return placements(&reply);
        }
    }
}

async fn reserve(redis: &Redis, show: ShowId, lane: usize, tags: &str, n: usize) -> Result<i64, StoreError> {
    let mut call = redis.show_script(&scripts::RESERVE, show);
    call.arg(lane).arg(n).arg(tags);
    let reply: Vec<i64> = redis.invoke_replicated(call, "reserve").await?;
    reply.first().copied().ok_or_else(|| unexpected("reserve", &reply))
}

/// Two numbers per user: created (1) or not (0), and the seq.
fn placements(reply: &[i64]) -> Result<Vec<JoinOutcome>, StoreError> {
    if reply.is_empty() || !reply.len().is_multiple_of(2) {
        return Err(unexpected("place", reply));
    }
    let placed = |pair: &[i64]| JoinOutcome::Placed(placement(pair[1], pair[0] == 1));
    Ok(reply.chunks_exact(2).map(placed).collect())
}

fn placement(seq: i64, created: bool) -> Placement {
    Placement { seq, created, cursor: None, active_until_ms: None, holes_total: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_name_each_masters_slot_ranges_and_skip_replicas_and_migrations() {
        let nodes = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [5461->-b2]
b2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383 42
d4 127.0.0.1:7004@17004 slave a1 0 0 1 connected
";
        let ranges = slot_masters(nodes);
        let at = |port: &str| format!("127.0.0.1:{port}");
        assert_eq!(
            ranges,
            [(0, 5460, at("7001")), (5461, 10922, at("7002")), (10923, 16383, at("7003")), (42, 42, at("7003"))]
        );
    }
}
