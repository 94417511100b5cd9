//! The queue of a show on one hash slot: its waiting list, memberships and sessions side
//! by side, each rule one script there (join.lua, admit.lua, leave.lua).
//!
//! Joins are the hot path of an on-sale: the joins of a show that arrive together go to
//! Redis as one script call (see [`crate::store::batch`]).

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::reply::{self, AdmitReply, JoinReply, LeaveReply};
use super::{Redis, home, scripts};
use crate::domain::ShowId;
use crate::domain::queue::Hole;
use crate::store::batch::Batcher;
use crate::store::{AdmissionTick, JoinOutcome, Presence, QueueCounts, QueueStore, StoreError};

pub struct OneSlotQueue {
    redis: Arc<Redis>,
    joins: Batcher<Uuid, JoinOutcome>,
}

impl OneSlotQueue {
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
        Self { joins, redis }
    }
}

fn join_outcomes(show: ShowId, reply: &[i64]) -> Result<Vec<JoinOutcome>, StoreError> {
    reply::decode::<JoinReply>(reply)?.map(|JoinReply(outcomes)| outcomes).map_err(|refusal| refusal.into_error(show))
}

#[async_trait]
impl QueueStore for OneSlotQueue {
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        self.joins.call(show, user).await
    }

    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        home::presence(&self.redis, show, user).await
    }

    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        home::reinstate(&self.redis, show, user, seq).await
    }

    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        match home::leave(&self.redis, show, user).await? {
            LeaveReply::Left { .. } => Ok(true),
            LeaveReply::NoPlace { .. } => Ok(false),
            LeaveReply::NotOnHome { .. } => Err(StoreError::LayoutChanged(show)),
        }
    }

    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        let mut call = self.redis.show_script(&scripts::ADMIT, show);
        call.arg(self.redis.keys.cursor_channel()).arg(show).arg(max_batch);
        let reply = self.redis.ask_replicated::<AdmitReply>(call, "admit").await?;
        reply.map(|AdmitReply(tick)| tick).map_err(|refusal| refusal.into_error(show))
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        home::cursor(&self.redis, show).await
    }

    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        match home::counts(&self.redis, show).await? {
            reply::CountsReply { home, off_lanes: None } => Ok(home),
            reply::CountsReply { off_lanes: Some(_), .. } => Err(StoreError::LayoutChanged(show)),
        }
    }

    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError> {
        home::holes(&self.redis, show).await
    }

    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        home::member_seq(&self.redis, show, user).await
    }

    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        home::close_for_draw(&self.redis, show, pre_queue_size).await
    }

    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        super::draw::place_drawn(&self.redis, show, base, users, &[]).await
    }

    async fn spend_challenge(&self, show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        home::spend_challenge(&self.redis, show, id, expires_at_ms).await
    }
}
