//! Seat holds on Redis: `SET NX PX` per seat inside one all-or-nothing script. The hold
//! requests of a show that arrive together go as one call of up to 256 (see
//! [`crate::store::batch`]), so a hold storm on one seat costs Redis far fewer calls than requests.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::queue::unexpected;
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

/// Per request: a code, a count and that many values.
fn hold_outcomes(show: ShowId, mut reply: &[i64]) -> Result<Vec<HoldOutcome>, StoreError> {
    if reply == [-1] {
        return Err(StoreError::ShowNotLoaded(show));
    }
    let mut outcomes = Vec::new();
    while let [code, count, rest @ ..] = reply {
        let (values, next) = rest.split_at_checked(*count as usize).ok_or_else(|| unexpected("hold", reply))?;
        outcomes.push(match (code, values) {
            (1, [expires_at_ms, recorded_at_ms]) => {
                HoldOutcome::Held { expires_at_ms: *expires_at_ms, recorded_at_ms: *recorded_at_ms }
            }
            (0, unavailable) => HoldOutcome::Unavailable(unavailable.iter().copied().map(SeatId).collect()),
            (-3, []) => HoldOutcome::NotActive,
            (-4, [limit]) => HoldOutcome::OverLimit { limit: *limit as u32 },
            _ => return Err(unexpected("hold", reply)),
        });
        reply = next;
    }
    if !reply.is_empty() {
        return Err(unexpected("hold", reply));
    }
    Ok(outcomes)
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
        let (sold, held): (i64, u64) = self.redis.invoke(call).await?;
        if sold < 0 {
            return Err(StoreError::ShowNotLoaded(show));
        }
        Ok(Unavailable { sold: sold as u64, held })
    }

    #[tracing::instrument(skip(self))]
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        let mut call = self.user_call(&scripts::CHECK_HOLDS, show, user);
        call.arg(keep.as_millis() as u64).arg(seats);
        let reply: Vec<i64> = self.redis.invoke(call).await?;
        match reply.as_slice() {
            [0] => Ok(HoldCheck::AllHeld),
            [1, sold @ ..] => Ok(HoldCheck::Sold(sold.iter().copied().map(SeatId).collect())),
            [2, missing @ ..] => Ok(HoldCheck::Missing(missing.iter().copied().map(SeatId).collect())),
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
