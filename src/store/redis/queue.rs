//! The waiting queue and active set of a show on Redis, in the shape of its layout: one
//! slot ([`super::one_slot`]) or lanes ([`super::lanes`]), the store picked per show by
//! [`Layouts`]. A call a script refused because the layout changed goes once more to the
//! store of the layout read again.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::layout::Layouts;
use super::{Redis, home};
use crate::domain::ShowId;
use crate::domain::queue::{Hole, QueueConfig};
use crate::store::{AdmissionTick, JoinOutcome, Presence, QueueCounts, QueueStore, StoreError};

pub struct RedisQueue {
    redis: Arc<Redis>,
    layouts: Layouts,
}

impl RedisQueue {
    /// Must be called inside the tokio runtime that should run the batched join calls.
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { layouts: Layouts::new(redis.clone()), redis }
    }

    /// Writes the queue settings the scripts read (which also marks the show loaded).
    pub async fn put_config(&self, show: ShowId, config: &QueueConfig) -> Result<(), StoreError> {
        home::put_config(&self.redis, show, config, None).await
    }

    /// Runs `call` on the store of the show's layout as this instance knows it; once more
    /// after reading the layout again if a script says it changed.
    async fn on_layout<T, F, Fut>(&self, show: ShowId, call: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<dyn QueueStore>) -> Fut,
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
}

#[async_trait]
impl QueueStore for RedisQueue {
    #[tracing::instrument(skip(self))]
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        self.on_layout(show, async |queue| queue.join(show, user).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        self.on_layout(show, async |queue| queue.presence(show, user).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        self.on_layout(show, async |queue| queue.reinstate(show, user, seq).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        self.on_layout(show, async |queue| queue.leave(show, user).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        self.on_layout(show, async |queue| queue.admit(show, max_batch).await).await
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        self.on_layout(show, async |queue| queue.cursor(show).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        self.on_layout(show, async |queue| queue.counts(show).await).await
    }

    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError> {
        self.on_layout(show, async |queue| queue.holes(show).await).await
    }

    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        self.on_layout(show, async |queue| queue.place_of(show, user).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        self.on_layout(show, async |queue| queue.close_for_draw(show, pre_queue_size).await).await
    }

    #[tracing::instrument(skip(self, users), fields(users = users.len()))]
    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        // The layout read afresh: lanes may have changed before anyone joined, which only
        // the join scripts would have told this instance.
        self.layouts.forget(show);
        self.on_layout(show, async |queue| queue.place_drawn(show, base, users).await).await
    }

    #[tracing::instrument(skip(self))]
    async fn spend_challenge(&self, show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        self.on_layout(show, async |queue| queue.spend_challenge(show, id, expires_at_ms).await).await
    }
}
