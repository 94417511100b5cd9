//! The waiting queue and active set of a show, on Redis.
//!
//! Joins are the hot path of an on-sale: the joins of a show that arrive together go to
//! Redis as one script call (see [`crate::store::batch`]). A show split over lanes goes
//! through [`super::lanes`] instead, for the calls that differ.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::lanes::{LanedShow, Layouts, OTHER_LAYOUT};
use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::domain::queue::{Hole, QueueConfig};
use crate::store::batch::Batcher;
use crate::store::snapshot::PendingDraw;
use crate::store::{AdmissionTick, JoinOutcome, Placement, Presence, QueueCounts, QueueStore, StoreError};

pub struct RedisQueue {
    redis: Arc<Redis>,
    joins: Batcher<Uuid, JoinOutcome>,
    layouts: Layouts,
}

impl RedisQueue {
    /// Must be called inside the tokio runtime that should run the batched join calls.
    pub fn new(redis: Arc<Redis>) -> Self {
        let joins = redis.show_script_batcher(
            "join",
            &scripts::JOIN,
            |call, user: &Uuid| {
                call.arg(user.as_bytes().as_slice());
            },
            join_outcomes,
        );
        Self { joins, layouts: Layouts::new(redis.clone()), redis }
    }

    /// Runs `call` on the show's layout as this instance knows it; once more after reading
    /// the layout again if a script says it changed.
    async fn on_layout<T, F, Fut>(&self, show: ShowId, call: F) -> Result<T, StoreError>
    where
        F: Fn(Option<Arc<LanedShow>>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        match call(self.layouts.of(show).await?).await {
            Err(StoreError::LayoutChanged(_)) => {
                self.layouts.forget(show);
                call(self.layouts.of(show).await?).await
            }
            other => other,
        }
    }

    /// Writes the queue settings the scripts read (which also marks the show loaded).
    pub async fn put_config(&self, show: ShowId, config: &QueueConfig) -> Result<(), StoreError> {
        put_config(&self.redis, show, config, None).await
    }

    async fn admit_one_slot(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT, show);
        call.arg(self.redis.keys.cursor_channel()).arg(show).arg(max_batch);
        let reply: Vec<i64> = self.redis.invoke_replicated(call, "admit").await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [OTHER_LAYOUT] => Err(StoreError::LayoutChanged(show)),
            [cursor, admitted, expired, holes_total, busy] => Ok(AdmissionTick {
                cursor: *cursor,
                admitted: *admitted as u64,
                expired: *expired as u64,
                holes_total: Some(*holes_total),
                busy: *busy == 1,
            }),
            other => Err(unexpected("admit", other)),
        }
    }

    /// Home's counters, and on a laned show how many were admitted off its lanes.
    async fn home_counts(&self, show: ShowId) -> Result<(QueueCounts, Option<i64>), StoreError> {
        let reply: Vec<i64> = self.redis.invoke(self.redis.show_script(&scripts::COUNTS, show)).await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [waiting, active, joined, admitted, cursor, off_lanes] => Ok((
                QueueCounts {
                    waiting: *waiting as u64,
                    active: *active as u64,
                    joined_total: *joined as u64,
                    admitted_total: *admitted as u64,
                    cursor: *cursor,
                },
                (*off_lanes >= 0).then_some(*off_lanes),
            )),
            other => Err(unexpected("counts", other)),
        }
    }
}

/// Script replies shared by the one-slot and the laned queue.
pub(super) const NO_CONFIG: i64 = -1;
pub(super) const PAUSED: i64 = -2;

/// The seqs the holes cover, then four numbers per user: created, seq, cursor, active until.
fn join_outcomes(show: ShowId, reply: &[i64]) -> Result<Vec<JoinOutcome>, StoreError> {
    match reply {
        [NO_CONFIG] => return Err(StoreError::ShowNotLoaded(show)),
        [OTHER_LAYOUT] => return Err(StoreError::LayoutChanged(show)),
        _ => {}
    }
    let Some((holes_total, places)) = reply.split_first().filter(|(_, p)| !p.is_empty() && p.len().is_multiple_of(4))
    else {
        return Err(unexpected("join", reply));
    };
    let outcome = |place: &[i64]| match place[0] {
        PAUSED => JoinOutcome::Closed,
        created => JoinOutcome::Placed(Placement {
            seq: place[1],
            created: created == 1,
            cursor: (place[2] >= 0).then_some(place[2]),
            active_until_ms: (place[3] > 0).then_some(place[3]),
            holes_total: Some(*holes_total),
        }),
    };
    Ok(places.chunks_exact(4).map(outcome).collect())
}

#[async_trait]
impl QueueStore for RedisQueue {
    #[tracing::instrument(skip(self))]
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        self.on_layout(show, async |laned| match laned {
            Some(laned) => laned.join(user).await,
            None => self.joins.call(show, user).await,
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        presence(&self.redis, show, user).await
    }

    #[tracing::instrument(skip(self))]
    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        match self.layouts.of(show).await? {
            Some(laned) => laned.reinstate(user, seq).await,
            None => reinstate(&self.redis, show, user, seq).await,
        }
    }

    #[tracing::instrument(skip(self))]
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        self.on_layout(show, async |laned| match laned {
            Some(laned) => laned.leave(user).await,
            None => match leave_home(&self.redis, show, user).await? {
                (OTHER_LAYOUT, ..) => Err(StoreError::LayoutChanged(show)),
                (left, ..) => Ok(left == 1),
            },
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        self.on_layout(show, async |laned| match laned {
            Some(laned) => laned.admit(max_batch).await,
            None => self.admit_one_slot(show, max_batch).await,
        })
        .await
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        let cursor: Option<i64> = self.redis.query(redis::Cmd::get(self.redis.keys.show(show).cursor())).await?;
        Ok(cursor.unwrap_or(0))
    }

    #[tracing::instrument(skip(self))]
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        self.on_layout(show, async |laned| match (laned, self.home_counts(show).await?) {
            (Some(laned), (home, Some(off_lanes))) => laned.counts(home, off_lanes).await,
            (None, (home, None)) => Ok(home),
            _ => Err(StoreError::LayoutChanged(show)),
        })
        .await
    }

    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError> {
        let holes: Vec<(i64, i64)> = self.redis.query(redis::Cmd::hgetall(self.redis.keys.show(show).holes())).await?;
        Ok(holes.into_iter().map(|(lo, hi)| Hole { lo, hi }).collect())
    }

    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        if let Some(laned) = self.layouts.of(show).await? {
            return laned.place_of(user).await;
        }
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.redis.keys.show(show).member_bucket(&user)).arg(user.as_bytes().as_slice());
        self.redis.query(cmd).await
    }

    #[tracing::instrument(skip(self))]
    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        let mut call = self.redis.show_script(&scripts::CLOSE_DRAW, show);
        call.arg(pre_queue_size);
        match self.redis.invoke_replicated::<Vec<i64>>(call, "draw").await?.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [base] => Ok(*base),
            other => Err(StoreError::Internal(anyhow::anyhow!("close_draw answered {other:?}"))),
        }
    }

    #[tracing::instrument(skip(self, users), fields(users = users.len()))]
    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        // The layout read afresh: lanes may have changed before anyone joined, which only
        // the join scripts would have told this instance.
        self.layouts.forget(show);
        match self.layouts.of(show).await? {
            Some(laned) => laned.place_drawn(base, users).await,
            None => super::draw::place_drawn(&self.redis, show, base, users, &[]).await,
        }
    }

    #[tracing::instrument(skip(self))]
    async fn spend_challenge(&self, show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis.keys.show(show).spent_challenge(id)).arg(1).arg("NX").arg("PXAT").arg(expires_at_ms);
        let set: Option<String> = self.redis.query(cmd).await?;
        Ok(set.is_some())
    }
}

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
    let tags = super::lanes::tags_for(redis, show, config.lanes).await?;
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

/// Is the user active (the first ask after admission claims the session)? On the show's
/// home slot, where laned shows keep their active set too.
pub(super) async fn presence(redis: &Redis, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
    let mut call = redis.show_script(&scripts::PRESENCE, show);
    call.arg(user.as_bytes().as_slice());
    let reply: Vec<i64> = redis.invoke(call).await?;
    match reply.as_slice() {
        [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
        [cursor, until, waiting] => {
            Ok(Presence { cursor: *cursor, active_until_ms: (*until > 0).then_some(*until), waiting: *waiting == 1 })
        }
        other => Err(unexpected("presence", other)),
    }
}

/// Home's part of a leave: ends a session or drops a place on one slot. Returns 1 (left),
/// 0 (no place), or [`OTHER_LAYOUT`] (no place on home of a laned show), with the cursor.
/// Leaves on home: (1, or 0 when home had no place of the user, or OTHER_LAYOUT; the
/// cursor; the seq of the place home ended, 0 for none).
pub(super) async fn leave_home(redis: &Redis, show: ShowId, user: Uuid) -> Result<(i64, i64, i64), StoreError> {
    let mut call = redis.show_script(&scripts::LEAVE, show);
    call.arg(user.as_bytes().as_slice());
    let reply: Vec<i64> = redis.invoke(call).await?;
    match reply[..] {
        [left, cursor] => Ok((left, cursor, 0)),
        [left, cursor, seq] => Ok((left, cursor, seq)),
        _ => Err(unexpected("leave", &reply)),
    }
}

/// Gives a lost place back on home: the membership, the reinstated set, a join event.
pub(super) async fn reinstate(redis: &Redis, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
    let mut call = redis.show_script(&scripts::REINSTATE, show);
    call.arg(user.as_bytes().as_slice()).arg(seq);
    match redis.invoke::<i64>(call).await? {
        NO_CONFIG => Err(StoreError::ShowNotLoaded(show)),
        _ => Ok(()),
    }
}

pub(super) fn unexpected(script: &str, reply: &[i64]) -> StoreError {
    StoreError::Internal(anyhow::anyhow!("unexpected reply from the {script} script: {reply:?}"))
}
