//! Placing a fair opening's drawn pre-queue on Redis. Admission waits meanwhile, so this
//! is built for speed: half a million users go in with plain commands (their memberships,
//! one HSET per bucket, and their list, under a staging key of this attempt), then one
//! short script makes the list the one admission takes first (see `lua/place_drawn.lua`).
//! Every step may run again: the memberships are the same each time, a fresh attempt
//! builds a fresh list, and a placed draw is left alone. A laned show's drawn get their
//! memberships on their lanes as well (see `lanes`).

use std::sync::Arc;

use uuid::Uuid;

use super::keys::ShowKeys;
use super::reply::{PlaceDrawnReply, Refusal};
use super::{Redis, bulk, scripts};
use crate::domain::ShowId;
use crate::store::StoreError;

/// How long an abandoned attempt's staging list stays.
const STAGING_TTL_MS: i64 = 600_000;

/// A laned show's lane and the drawn (user, seq) whose memberships go there.
pub type LaneMembers = (Arc<ShowKeys>, Vec<(Uuid, i64)>);

/// Places `users`, in draw order, at seqs `base + 1 ..`; `lanes`: a laned show's lanes with
/// their drawn.
pub async fn place_drawn(
    redis: &Redis,
    show: ShowId,
    base: i64,
    users: &[Uuid],
    lanes: &[LaneMembers],
) -> Result<(), StoreError> {
    let keys = redis.keys.show(show);
    let attempt = Uuid::new_v4().simple().to_string();
    if draw_pending(redis, &keys.config()).await? {
        let staging = keys.drawn_staging(&attempt);
        let users = users.to_vec();
        // A few hundred milliseconds of a core for half a million: a blocking thread's work.
        let (members, list) = tokio::task::spawn_blocking(move || {
            let mut list = vec![redis::Cmd::del(&staging)];
            list.extend(bulk::push_users(&staging, &users));
            list.push(redis::Cmd::pexpire(&staging, STAGING_TTL_MS));
            (bulk::set_members(&keys, users.iter().zip(base + 1..)), list)
        })
        .await
        .map_err(|error| StoreError::Internal(anyhow::anyhow!("the drawn were not staged: {error}")))?;
        bulk::send_unordered(redis, members).await?;
        // One lane at a time: a pipeline may not cross slots.
        for (lane, drawn) in lanes {
            bulk::send_unordered(redis, bulk::set_members(lane, drawn.iter().map(|(user, seq)| (user, *seq)))).await?;
        }
        bulk::send(redis, list).await?;
    }
    let mut call = redis.show_script(&scripts::PLACE_DRAWN, show);
    call.arg(&attempt).arg(users.len());
    // Admission goes on from here: a replica must have the drawn, or a failover loses them.
    match redis.ask_replicated::<PlaceDrawnReply>(call, "draw").await? {
        Ok(PlaceDrawnReply::Placed | PlaceDrawnReply::PlacedBefore) => Ok(()),
        Err(Refusal::StagingIncomplete) => {
            Err(StoreError::Internal(anyhow::anyhow!("the drawn list of {show} was not whole")))
        }
        Err(refusal) => Err(refusal.into_error(show)),
    }
}

async fn draw_pending(redis: &Redis, config: &str) -> Result<bool, StoreError> {
    redis.query(redis::Cmd::hexists(config, "draw_pending")).await
}
