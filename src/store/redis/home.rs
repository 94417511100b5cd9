//! A show's home slot: its config, sessions, counters, cursor and fair opening, which a
//! show keeps there whatever its shape (one slot, or lanes whose waiting places are
//! elsewhere). Both queue stores ([`super::one_slot`], [`super::lanes`]) call these.

use uuid::Uuid;

use super::reply::{CloseDrawReply, CountsReply, LeaveReply, PresenceReply, ReinstateReply};
use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::domain::queue::{Hole, QueueConfig};
use crate::store::snapshot::PendingDraw;
use crate::store::{Presence, StoreError};

/// Writes the queue settings the scripts read; their presence also tells the scripts that
/// the show is loaded, and a fresh config starts the show's lineage (see `join.lua`). The
/// lanes it asks for are laid out only while nobody joined (see put_config.lua). With a
/// pending draw, a rebuilt show's close: admission waits for its draw, as it did where the
/// pre-queue closed.
pub(super) async fn put_config(
    redis: &Redis,
    show: ShowId,
    config: &QueueConfig,
    pending_draw: Option<PendingDraw>,
) -> Result<(), StoreError> {
    let tags = super::masters::tags_for(redis, show, config.lanes).await?;
    let mut fields = vec![
        ("max_active", config.max_active.to_string()),
        ("admit_per_second", config.admit_per_second.to_string()),
        ("session_ttl_s", config.session_ttl_s.to_string()),
        ("hold_ttl_s", config.hold_ttl_s.to_string()),
        ("max_seats_per_user", config.max_seats_per_user.to_string()),
        ("paused", u8::from(config.paused).to_string()),
        ("claim_window_s", config.claim_window_s.to_string()),
    ];
    if let Some(draw) = pending_draw {
        let (base, end) = (draw.base.to_string(), draw.end.to_string());
        fields.extend([("draw_base", base), ("draw_pending", "1".to_owned()), ("draw_end", end)]);
    }
    let mut call = redis.show_script(&scripts::PUT_CONFIG, show);
    call.arg(tags);
    for (field, value) in &fields {
        call.arg(*field).arg(value);
    }
    redis.invoke::<i64>(call).await.map(drop)
}

/// Is the user active (the first ask after admission claims the session)?
pub(super) async fn presence(redis: &Redis, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
    let mut call = redis.show_script(&scripts::PRESENCE, show);
    call.arg(user.as_bytes().as_slice());
    let reply = redis.ask::<PresenceReply>(call).await?;
    reply.map(|PresenceReply(presence)| presence).map_err(|refusal| refusal.into_error(show))
}

/// Ends a session, or drops a waiting place home has.
pub(super) async fn leave(redis: &Redis, show: ShowId, user: Uuid) -> Result<LeaveReply, StoreError> {
    let mut call = redis.show_script(&scripts::LEAVE, show);
    call.arg(user.as_bytes().as_slice());
    redis.ask::<LeaveReply>(call).await?.map_err(|refusal| refusal.into_error(show))
}

/// Gives a lost place back: the membership, the reinstated set (admission takes it by its
/// seq), a join event.
pub(super) async fn reinstate(redis: &Redis, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
    let mut call = redis.show_script(&scripts::REINSTATE, show);
    call.arg(user.as_bytes().as_slice()).arg(seq);
    redis.ask::<ReinstateReply>(call).await?.map(drop).map_err(|refusal| refusal.into_error(show))
}

/// Home's counters, and on a laned show how many were admitted off its lanes.
pub(super) async fn counts(redis: &Redis, show: ShowId) -> Result<CountsReply, StoreError> {
    redis
        .ask::<CountsReply>(redis.show_script(&scripts::COUNTS, show))
        .await?
        .map_err(|refusal| refusal.into_error(show))
}

pub(super) async fn cursor(redis: &Redis, show: ShowId) -> Result<i64, StoreError> {
    let cursor: Option<i64> = redis.query(redis::Cmd::get(redis.keys.show(show).cursor())).await?;
    Ok(cursor.unwrap_or(0))
}

pub(super) async fn holes(redis: &Redis, show: ShowId) -> Result<Vec<Hole>, StoreError> {
    let holes: Vec<(i64, i64)> = redis.query(redis::Cmd::hgetall(redis.keys.show(show).holes())).await?;
    Ok(holes.into_iter().map(|(lo, hi)| Hole { lo, hi }).collect())
}

/// The seq of the user's membership on home: a place on one slot, or (laned) one admitted,
/// given back or drawn.
pub(super) async fn member_seq(redis: &Redis, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
    let mut cmd = redis::cmd("HGET");
    cmd.arg(redis.keys.show(show).member_bucket(&user)).arg(user.as_bytes().as_slice());
    redis.query(cmd).await
}

/// Closes the pre-queue for its draw (see `QueueStore::close_for_draw`).
pub(super) async fn close_for_draw(redis: &Redis, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
    let mut call = redis.show_script(&scripts::CLOSE_DRAW, show);
    call.arg(pre_queue_size);
    let reply = redis.ask_replicated::<CloseDrawReply>(call, "draw").await?;
    reply.map(|CloseDrawReply(base)| base).map_err(|refusal| refusal.into_error(show))
}

pub(super) async fn spend_challenge(
    redis: &Redis,
    show: ShowId,
    id: &str,
    expires_at_ms: i64,
) -> Result<bool, StoreError> {
    let mut cmd = redis::cmd("SET");
    cmd.arg(redis.keys.show(show).spent_challenge(id)).arg(1).arg("NX").arg("PXAT").arg(expires_at_ms);
    let set: Option<String> = redis.query(cmd).await?;
    Ok(set.is_some())
}
