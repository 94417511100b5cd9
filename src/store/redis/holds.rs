//! Seat holds on Redis: `SET NX PX` per seat inside one all-or-nothing script.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::queue::unexpected;
use super::{Redis, scripts};
use crate::domain::{SeatId, ShowId};
use crate::store::{HoldCheck, HoldOutcome, HoldStore, SeatStates, StoreError, UserHolds};

pub struct RedisHolds {
    redis: Arc<Redis>,
}

impl RedisHolds {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }

    fn user_call(&self, script: &'static redis::Script, show: ShowId, user: Uuid) -> redis::ScriptInvocation<'static> {
        let mut call = self.redis.show_script(script, show);
        call.arg(user.as_bytes().as_slice());
        call
    }
}

#[async_trait]
impl HoldStore for RedisHolds {
    #[tracing::instrument(skip(self))]
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError> {
        let mut call = self.user_call(&scripts::HOLD, show, user);
        call.arg(seats);
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [1, expires_at_ms] => Ok(HoldOutcome::Held { expires_at_ms: *expires_at_ms }),
            [0, unavailable @ ..] => Ok(HoldOutcome::Unavailable(unavailable.to_vec())),
            [-1] => Err(StoreError::ShowNotLoaded(show)),
            [-3] => Ok(HoldOutcome::NotActive),
            [-4, limit] => Ok(HoldOutcome::OverLimit { limit: *limit as u32 }),
            other => Err(unexpected("hold", other)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<bool, StoreError> {
        let mut call = self.user_call(&scripts::RELEASE, show, user);
        call.arg(seat);
        let released: i64 = self.redis.invoke(call).await?;
        Ok(released == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError> {
        let pairs: Vec<(SeatId, i64)> = self.redis.invoke(self.user_call(&scripts::HOLDS_OF, show, user)).await?;
        Ok(UserHolds {
            seat_ids: pairs.iter().map(|(seat, _)| *seat).collect(),
            expires_at_ms: pairs.iter().map(|(_, until)| *until).min(),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        let (sold, held): (Vec<SeatId>, Vec<SeatId>) =
            self.redis.invoke(self.redis.show_script(&scripts::SEAT_STATES, show)).await?;
        Ok(SeatStates { sold, held })
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        let mut call = self.user_call(&scripts::CHECK_HOLDS, show, user);
        call.arg(keep.as_millis() as u64).arg(seats);
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [0] => Ok(HoldCheck::AllHeld),
            [1, sold @ ..] => Ok(HoldCheck::Sold(sold.to_vec())),
            [2, missing @ ..] => Ok(HoldCheck::Missing(missing.to_vec())),
            other => Err(unexpected("check_holds", other)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError> {
        let mut call = self.user_call(&scripts::COMPLETE_SALE, show, user);
        call.arg(seats);
        self.redis.invoke::<i64>(call).await.map(drop)
    }

    #[tracing::instrument(skip(self))]
    async fn mark_sold(&self, show: ShowId, seats: &[SeatId]) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SADD");
        cmd.arg(self.redis.keys.show(show).sold()).arg(seats);
        self.redis.query::<i64>(cmd).await.map(drop)
    }
}
