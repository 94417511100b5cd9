//! The waiting queue and active set of a show, on Redis.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::domain::queue::QueueConfig;
use crate::store::{AdmissionTick, JoinOutcome, Placement, Presence, QueueCounts, QueueStore, StoreError};

pub struct RedisQueue {
    redis: Arc<Redis>,
}

impl RedisQueue {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }
}

const NO_CONFIG: i64 = -1;
const PAUSED: i64 = -2;

#[async_trait]
impl QueueStore for RedisQueue {
    #[tracing::instrument(skip(self))]
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        let mut call = self.redis.show_script(&scripts::JOIN, show);
        call.arg(user.as_bytes().as_slice());
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [PAUSED] => Ok(JoinOutcome::Closed),
            [created, seq, cursor, until] => Ok(JoinOutcome::Placed(Placement {
                seq: *seq,
                created: *created == 1,
                cursor: (*cursor >= 0).then_some(*cursor),
                active_until_ms: (*until > 0).then_some(*until),
            })),
            other => Err(unexpected("join", other)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        let mut call = self.redis.show_script(&scripts::PRESENCE, show);
        call.arg(user.as_bytes().as_slice());
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [cursor, until] => Ok(Presence { cursor: *cursor, active_until_ms: (*until > 0).then_some(*until) }),
            other => Err(unexpected("presence", other)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        let mut call = self.redis.show_script(&scripts::LEAVE, show);
        call.arg(user.as_bytes().as_slice());
        let left: i64 = self.redis.invoke(call).await?;
        Ok(left == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT, show);
        call.arg(self.redis.keys.cursor_channel()).arg(show).arg(max_batch);
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [cursor, admitted, expired] => {
                Ok(AdmissionTick { cursor: *cursor, admitted: *admitted as u64, expired: *expired as u64 })
            }
            other => Err(unexpected("admit", other)),
        }
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        let cursor: Option<i64> = self.redis.query(redis::Cmd::get(self.redis.keys.show(show).cursor())).await?;
        Ok(cursor.unwrap_or(0))
    }

    #[tracing::instrument(skip(self))]
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        let reply: Vec<i64> = self.redis.invoke(self.redis.show_script(&scripts::COUNTS, show)).await?;
        match reply.as_slice() {
            [NO_CONFIG] => Err(StoreError::ShowNotLoaded(show)),
            [waiting, active, joined, admitted, cursor] => Ok(QueueCounts {
                waiting: *waiting as u64,
                active: *active as u64,
                joined_total: *joined as u64,
                admitted_total: *admitted as u64,
                cursor: *cursor,
            }),
            other => Err(unexpected("counts", other)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn put_config(&self, show: ShowId, config: &QueueConfig) -> Result<(), StoreError> {
        let fields = [
            ("max_active", config.max_active.to_string()),
            ("admit_per_second", config.admit_per_second.to_string()),
            ("session_ttl_s", config.session_ttl_s.to_string()),
            ("hold_ttl_s", config.hold_ttl_s.to_string()),
            ("max_seats_per_user", config.max_seats_per_user.to_string()),
            ("paused", u8::from(config.paused).to_string()),
            ("claim_window_s", config.claim_window_s.to_string()),
        ];
        self.redis.query::<()>(redis::Cmd::hset_multiple(self.redis.keys.show(show).config(), &fields)).await
    }
}

pub(super) fn unexpected(script: &str, reply: &[i64]) -> StoreError {
    StoreError::Internal(anyhow::anyhow!("unexpected reply from the {script} script: {reply:?}"))
}
