//! Rebuilding a show's Redis state from a Postgres snapshot: after the deployment served from
//! Postgres, or when Redis came back without the show. Everything the scripts read is
//! replaced: the waiting list in seq order, membership, counters and cursor, the holes, the
//! reinstated and active sets, holds with their remaining time, sold seats, the seat map, an
//! empty event stream with its consumer group, and the config last (its presence says the
//! show is loaded). A laned show's lanes are cleared too: a rebuilt show runs on one slot
//! (its waiting list comes from Postgres in seq order), whatever its config asks.

use redis::Cmd;

use super::bulk::{self, CHUNK, send};
use super::keys::{MEMBER_BUCKETS, ShowKeys};
use super::{Redis, catalog, events};
use crate::domain::{SeatId, ShowId};
use crate::store::StoreError;
use crate::store::snapshot::ShowSnapshot;

#[tracing::instrument(skip_all, fields(show = %snapshot.show, waiting = snapshot.list.len()))]
pub async fn rebuild_show(redis: &Redis, snapshot: &ShowSnapshot) -> Result<(), StoreError> {
    let keys = redis.keys.show(snapshot.show);
    // One lane at a time: a pipeline may not cross slots.
    for lane in clear_lanes(redis, &keys).await? {
        send(redis, lane).await?;
    }
    send(redis, clear(&keys, snapshot)).await?;
    let mut commands = queue_commands(&keys, snapshot);
    commands.extend(hold_commands(&keys, snapshot));
    send(redis, commands).await?;
    // (A write-behind worker may have made the group again since the stream was deleted.)
    events::ensure_group(redis, &keys).await?;
    let (config, pending_draw) = (&snapshot.config, snapshot.pending_draw);
    catalog::load_show(redis, snapshot.show, config, &snapshot.seats, &snapshot.sold, pending_draw).await
}

/// Removes every key of an ended show (its write-behind drained first): its lanes', then
/// its own, the config first, so no script takes the show for loaded meanwhile, with the
/// hold indexes of those who still hold seats. Spent challenges lapse by themselves.
pub async fn forget_show(redis: &Redis, show: ShowId, seats: &[SeatId]) -> Result<(), StoreError> {
    let keys = redis.keys.show(show);
    for lane in clear_lanes(redis, &keys).await? {
        send(redis, lane).await?;
    }
    let mut holders = Vec::new();
    for chunk in seats.chunks(CHUNK) {
        let owners: Vec<Option<Vec<u8>>> =
            redis.query(Cmd::mget(chunk.iter().map(|seat| keys.hold(*seat)).collect::<Vec<_>>())).await?;
        holders.extend(owners.into_iter().flatten().filter_map(|owner| uuid::Uuid::from_slice(&owner).ok()));
    }
    send(redis, doomed(&keys, seats.iter().copied(), holders)).await
}

/// Deletes every key the show may have: fixed ones, all membership buckets, every seat's
/// hold and the hold indexes of the users the snapshot knows (others lapse by themselves).
fn clear(keys: &ShowKeys, snapshot: &ShowSnapshot) -> Vec<Cmd> {
    let seats = snapshot.seats.iter().map(|seat| seat.id);
    doomed(keys, seats, snapshot.holds.iter().map(|(_, user, _)| *user))
}

fn doomed(
    keys: &ShowKeys,
    seats: impl IntoIterator<Item = SeatId>,
    holders: impl IntoIterator<Item = uuid::Uuid>,
) -> Vec<Cmd> {
    let mut doomed = keys.fixed();
    doomed.extend((0..MEMBER_BUCKETS).map(|n| keys.membership(n)));
    doomed.extend(seats.into_iter().map(|seat| keys.hold(seat)));
    doomed.extend(holders.into_iter().map(|user| keys.user_holds(&user)));
    doomed.chunks(CHUNK).map(Cmd::del).collect()
}

/// Deletes what a laned show keeps on its lanes: memberships, counters, streams (drained
/// before a rebuild), and the blocks of ranges not admitted yet (admitted ones expire).
async fn clear_lanes(redis: &Redis, home: &ShowKeys) -> Result<Vec<Vec<Cmd>>, StoreError> {
    let tags: Option<String> = redis.query(Cmd::hget(home.config(), "lane_tags")).await?;
    let Some(tags) = tags else { return Ok(Vec::new()) };
    let lanes: Vec<ShowKeys> = tags.split(',').map(|tag| redis.keys.lane(tag)).collect();
    let mut doomed: Vec<Vec<String>> = lanes
        .iter()
        .map(|lane| lane.lane_fixed().into_iter().chain((0..MEMBER_BUCKETS).map(|n| lane.membership(n))).collect())
        .collect();
    let ranges: Vec<String> = redis.query(Cmd::lrange(home.ranges(), 0, -1)).await?;
    for range in ranges {
        let mut fields = range.split(':').map(str::parse::<i64>);
        if let (Some(Ok(lane)), Some(Ok(first))) = (fields.next(), fields.next())
            && let Some((keys, lane)) = usize::try_from(lane).ok().and_then(|k| doomed.get_mut(k).zip(lanes.get(k)))
        {
            keys.push(lane.block(first));
        }
    }
    Ok(doomed.iter().map(|keys| keys.chunks(CHUNK).map(Cmd::del).collect()).collect())
}

fn queue_commands(keys: &ShowKeys, snapshot: &ShowSnapshot) -> Vec<Cmd> {
    let mut commands = bulk::push_users(&keys.waiting(), &snapshot.list);
    commands.extend(bulk::set_members(keys, snapshot.members.iter().map(|(user, seq)| (user, *seq))));
    for chunk in snapshot.reinstated.chunks(CHUNK) {
        let members: Vec<(i64, &[u8])> = chunk.iter().map(|(u, seq)| (*seq, u.as_bytes().as_slice())).collect();
        commands.push(Cmd::zadd_multiple(keys.reinstated(), &members));
    }
    for chunk in snapshot.active.chunks(CHUNK) {
        let members: Vec<(i64, &[u8])> = chunk.iter().map(|(u, until, _)| (*until, u.as_bytes().as_slice())).collect();
        commands.push(Cmd::zadd_multiple(keys.active(), &members));
        let claimed: Vec<&[u8]> = chunk.iter().filter(|a| a.2).map(|(u, ..)| u.as_bytes().as_slice()).collect();
        if !claimed.is_empty() {
            commands.push(Cmd::sadd(keys.claimed(), claimed));
        }
    }
    let holes: Vec<(i64, i64)> = snapshot.holes.iter().map(|h| (h.lo, h.hi)).collect();
    if !holes.is_empty() {
        commands.push(Cmd::hset_multiple(keys.holes(), &holes));
    }
    commands.push(Cmd::set(keys.holes_size(), snapshot.holes_size()));
    commands.push(Cmd::set(keys.seq(), snapshot.last_seq));
    commands.push(Cmd::set(keys.cursor(), snapshot.cursor));
    commands.push(Cmd::set(keys.admitted(), snapshot.admitted_total));
    commands.push(Cmd::set(keys.left_waiting(), snapshot.left_on_list));
    commands
}

/// Each live hold with its remaining time, in the seat's key and both indexes; a user's
/// index lives as long as their longest hold.
fn hold_commands(keys: &ShowKeys, snapshot: &ShowSnapshot) -> Vec<Cmd> {
    let mut commands = Vec::new();
    let mut longest: std::collections::HashMap<uuid::Uuid, i64> = Default::default();
    for (seat, user, until) in snapshot.holds.iter().filter(|(.., until)| *until > snapshot.now_ms) {
        let mut set = redis::cmd("SET");
        set.arg(keys.hold(*seat)).arg(user.as_bytes().as_slice()).arg("PX").arg(until - snapshot.now_ms);
        commands.push(set);
        commands.push(Cmd::zadd(keys.held(), seat, until));
        commands.push(Cmd::zadd(keys.user_holds(user), seat, until));
        let last = longest.entry(*user).or_default();
        *last = (*last).max(*until);
    }
    for (user, until) in longest {
        commands.push(Cmd::pexpire(keys.user_holds(&user), until - snapshot.now_ms));
    }
    commands
}
