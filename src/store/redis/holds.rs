//! Seat holds on Redis: `SET NX PX` per seat inside one all-or-nothing script. The hold
//! requests of a show that arrive together go as one call of up to 256 (see
//! [`crate::store::batch`]), so a hold storm on one seat costs Redis far fewer calls than requests.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::reply::{self, AvailabilityReply, CheckHoldsReply, HoldReply};
use super::{Redis, scripts};
use crate::domain::{SeatId, ShowId};
use crate::store::batch::Batcher;
use crate::store::{HoldCheck, HoldOutcome, HoldStore, SeatStates, StoreError, Unavailable, UserHolds};

type HoldRequest = (Uuid, Vec<SeatId>);

pub struct RedisHolds {
    redis: Arc<Redis>,
    holds: Batcher<HoldRequest, HoldOutcome>,
}

impl RedisHolds {
    /// Must be called inside the tokio runtime that should run the batched hold calls.
    pub fn new(redis: Arc<Redis>) -> Self {
        let holds = redis.show_script_batcher(
            "hold",
            &scripts::HOLD,
            |call, (user, seats): &HoldRequest| {
                call.arg(user.as_bytes().as_slice()).arg(seats.len()).arg(seats);
            },
            hold_outcomes,
        );
        Self { holds, redis }
    }

    fn user_call(&self, script: &'static redis::Script, show: ShowId, user: Uuid) -> redis::ScriptInvocation<'static> {
        let mut call = self.redis.show_script(script, show);
        call.arg(user.as_bytes().as_slice());
        call
    }
}

fn hold_outcomes(show: ShowId, reply: &[i64]) -> Result<Vec<HoldOutcome>, StoreError> {
    reply::decode::<HoldReply>(reply)?.map(|HoldReply(outcomes)| outcomes).map_err(|refusal| refusal.into_error(show))
}

#[async_trait]
impl HoldStore for RedisHolds {
    #[tracing::instrument(skip(self))]
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError> {
        self.holds.call(show, (user, seats.to_vec())).await
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
        let (sold, held): (Vec<SeatId>, Vec<(SeatId, i64)>) =
            self.redis.invoke(self.redis.show_script(&scripts::SEAT_STATES, show)).await?;
        Ok(SeatStates { sold, held })
    }

    #[tracing::instrument(skip(self))]
    async fn unavailable(&self, show: ShowId) -> Result<Unavailable, StoreError> {
        let call = self.redis.show_script(&scripts::AVAILABILITY, show);
        let reply = self.redis.ask::<AvailabilityReply>(call).await?;
        reply.map(|AvailabilityReply(unavailable)| unavailable).map_err(|refusal| refusal.into_error(show))
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        let mut call = self.user_call(&scripts::CHECK_HOLDS, show, user);
        call.arg(keep.as_millis() as u64).arg(seats);
        let reply = self.redis.ask::<CheckHoldsReply>(call).await?;
        reply.map(|CheckHoldsReply(check)| check).map_err(|refusal| refusal.into_error(show))
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
