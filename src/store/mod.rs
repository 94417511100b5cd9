//! Storage: Postgres is the durable record and final arbiter, Redis carries the hot state.
//!
//! The queue and the holds sit behind the [`QueueStore`] and [`HoldStore`] traits so that a
//! circuit breaker can move user paths between implementations; the Redis ones live in
//! [`redis`], the Postgres tables they fall back to are created by the migrations.
//! Every call is bounded by a timeout and fails as [`StoreError::Unavailable`] past it.

pub mod postgres;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::queue::QueueConfig;
use crate::domain::{SeatId, ShowId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A timeout, a refused or dropped connection, an exhausted pool, an open breaker.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique constraint said no.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Redis has no state for this show (never loaded, or lost in a failover): load it from
    /// Postgres and try again.
    #[error("show {0} is not loaded in Redis")]
    ShowNotLoaded(ShowId),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// The same error for another waiter of a shared call (an internal error's cause travels
    /// as its text).
    pub fn copy(&self) -> Self {
        match self {
            Self::Unavailable(why) => Self::Unavailable(why.clone()),
            Self::NotFound(what) => Self::NotFound(what.clone()),
            Self::Conflict(what) => Self::Conflict(what.clone()),
            Self::ShowNotLoaded(show) => Self::ShowNotLoaded(*show),
            Self::Internal(error) => Self::Internal(anyhow::anyhow!("{error:#}")),
        }
    }
}

/// Where a user stands after joining.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub seq: i64,
    /// False when the user was already in the queue: same place, same `seq`.
    pub created: bool,
    /// Users popped off the waiting list so far; `None` on a new join, which doesn't read it
    /// (the caller's cached cursor is as good: the new place is behind it anyway).
    pub cursor: Option<i64>,
    /// Set while the user is in the active set.
    pub active_until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinOutcome {
    Placed(Placement),
    Closed,
}

/// The answer to "is this user active?", which also starts a claimed session.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub cursor: i64,
    pub active_until_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdmissionTick {
    pub cursor: i64,
    pub admitted: u64,
    pub expired: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCounts {
    pub waiting: u64,
    pub active: u64,
    pub joined_total: u64,
    pub admitted_total: u64,
    pub cursor: i64,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Joins the show's queue, or returns the place the user already has.
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError>;
    /// Whether the user is active; the first call after admission claims the session.
    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError>;
    /// Leaves the queue or gives the active slot back; false when the user was in neither.
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError>;
    /// Ends lapsed sessions and admits as many waiters as the rate and `max_active` allow.
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError>;
    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError>;
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError>;
    async fn put_config(&self, show: ShowId, config: &QueueConfig) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    Held {
        expires_at_ms: i64,
    },
    /// Held by someone else or sold; nothing was held.
    Unavailable(Vec<SeatId>),
    NotActive,
    OverLimit {
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserHolds {
    pub seat_ids: Vec<SeatId>,
    /// When the first of these holds lapses.
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeatStates {
    pub sold: Vec<SeatId>,
    pub held: Vec<SeatId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldCheck {
    AllHeld,
    Sold(Vec<SeatId>),
    Missing(Vec<SeatId>),
}

#[async_trait]
pub trait HoldStore: Send + Sync {
    /// Holds every seat for the user, or none of them.
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError>;
    /// Compare-and-delete: false when the seat is not held by this user.
    async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<bool, StoreError>;
    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError>;
    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError>;
    /// Whether every seat is still held by this user and none is known sold; if so, the holds
    /// are kept for at least `keep`, so they can't lapse while the sale commits.
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError>;
    /// After the sale committed in Postgres: mark the seats sold, drop the user's holds and
    /// give the active slot back.
    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError>;
    /// Record seats Postgres says are sold, so holds on them fail fast.
    async fn mark_sold(&self, show: ShowId, seats: &[SeatId]) -> Result<(), StoreError>;
}
