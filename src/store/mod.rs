//! Storage: Postgres is the durable record and final arbiter, Redis carries the hot state.
//!
//! The queue and the holds sit behind the [`QueueStore`] and [`HoldStore`] traits, with one
//! implementation on [`redis`] and one on [`postgres`]; the sale's `Backend` implements
//! them too and sends every call to the backend the whole deployment is on. Every call is
//! bounded by a timeout and fails as [`StoreError::Unavailable`] past it.

pub mod batch;
pub mod event;
pub mod postgres;
pub mod redis;
pub mod snapshot;

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::catalog::{ConcertInfo, Seat, ShowInfo};
pub use crate::domain::holds::SeatStates;
use crate::domain::queue::{Hole, QueueConfig};
use crate::domain::{ConcertId, SeatId, ShowId};

/// Which store the deployment serves user paths from. One for every instance at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Redis,
    Postgres,
    /// Still serving from Postgres while one instance rebuilds Redis.
    Rebuilding,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Postgres => "postgres",
            Self::Rebuilding => "rebuilding",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Redis, Self::Postgres, Self::Rebuilding].into_iter().find(|m| m.as_str() == text)
    }

    /// The store that answers user requests in this mode.
    pub fn backend(self) -> &'static str {
        if self == Self::Redis { "redis" } else { "postgres" }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A timeout, a refused or dropped connection, an exhausted pool, a shed request.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The call was never sent (Redis' circuit breaker is open): safe to send elsewhere.
    #[error("not sent: {0}")]
    Unsent(String),
    /// The deployment moved to another backend while this call was on its way; nothing was
    /// written. Ask the backend it is on now.
    #[error("the deployment moved to another backend")]
    ModeChanged,
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique constraint said no.
    #[error("conflict: {0:?}")]
    Conflict(Constraint),
    /// Redis has no state for this show (never loaded, or lost in a failover): load it from
    /// Postgres and try again.
    #[error("show {0} is not loaded in Redis")]
    ShowNotLoaded(ShowId),
    /// The show's lanes are not what this instance thought (see `redis::lanes`): read them
    /// again and ask again.
    #[error("show {0} runs on other lanes now")]
    LayoutChanged(ShowId),
    /// The show's event stream has no consumer group (Redis lost it, or never had it).
    #[error("the event stream has no consumer group")]
    NoStreamGroup,
    /// Creating the consumer group found it there already.
    #[error("the event stream's consumer group exists")]
    StreamGroupExists,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The unique constraints whose refusals mean something to the code, by name; the names
/// are the migrations' (Postgres names a primary key `<table>_pkey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// A concurrent request with the same Idempotency-Key committed first.
    IdempotencyKey,
    /// Someone bought the seat first.
    SoldSeat,
    Other(String),
}

impl Constraint {
    pub fn named(name: &str) -> Self {
        match name {
            "idempotency_keys_pkey" => Self::IdempotencyKey,
            "sold_seats_pkey" => Self::SoldSeat,
            other => Self::Other(other.to_string()),
        }
    }
}

impl StoreError {
    /// The same error for another waiter of a shared call (an internal error's cause travels
    /// as its text).
    pub fn copy(&self) -> Self {
        match self {
            Self::Unavailable(why) => Self::Unavailable(why.clone()),
            Self::Unsent(why) => Self::Unsent(why.clone()),
            Self::ModeChanged => Self::ModeChanged,
            Self::NotFound(what) => Self::NotFound(what.clone()),
            Self::Conflict(what) => Self::Conflict(what.clone()),
            Self::ShowNotLoaded(show) => Self::ShowNotLoaded(*show),
            Self::LayoutChanged(show) => Self::LayoutChanged(*show),
            Self::NoStreamGroup => Self::NoStreamGroup,
            Self::StreamGroupExists => Self::StreamGroupExists,
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
    /// How many seqs the show's holes cover, where the store says (Redis, which can open a
    /// hole by itself after a failover): a cache of the holes with another total is stale.
    pub holes_total: Option<i64>,
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
    /// Not active but still queued: a place the cursor has passed without admitting it yet
    /// (reinstated after a loss, or admitted in Redis when the admission was lost).
    pub waiting: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdmissionTick {
    pub cursor: i64,
    pub admitted: u64,
    pub expired: u64,
    /// As in [`Placement::holes_total`].
    pub holes_total: Option<i64>,
    /// Someone is still waiting or active (else the show's line is empty).
    pub busy: bool,
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
    /// Gives back a place this store lost (its signed queue token proves it): the user waits
    /// again at `seq`, ahead of everyone behind it. No-op when the user has a place.
    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError>;
    /// Leaves the queue or gives the active slot back; false when the user was in neither.
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError>;
    /// Ends lapsed sessions and admits as many waiters as the rate and `max_active` allow.
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError>;
    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError>;
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError>;
    /// The show's holes: seqs no place has, which positions skip.
    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError>;
    /// The seq of the user's place, if they have one (waiting or active).
    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError>;
    /// Closes the show's pre-queue of `pre_queue_size` users (see `domain::fairness`): the
    /// next that many seqs are kept for them, later joins queue behind, and admission waits
    /// until they are placed. Returns the seq before theirs. Idempotent.
    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError>;
    /// Places the drawn users, in draw order, at seqs `base + 1` on, and lets admission go
    /// on. Idempotent.
    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError>;
    /// Spends a proof-of-work challenge (by its id) until it expires: false when it was
    /// spent already.
    async fn spend_challenge(&self, show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    Held {
        expires_at_ms: i64,
        /// When the store records the hold as taken, by the clock it records every change
        /// of the sale with (on Redis, the event stream's): a stay that ended at or after
        /// it ended the hold.
        recorded_at_ms: i64,
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

/// How many seats of a show are taken now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Unavailable {
    pub sold: u64,
    pub held: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldCheck {
    AllHeld,
    Sold(Vec<SeatId>),
    Missing(Vec<SeatId>),
}

/// Why a sale was refused before Postgres' arbiter was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum NotSold {
    /// These seats are sold already.
    Sold(Vec<SeatId>),
    /// These seats are not held by the buyer.
    NotHeld(Vec<SeatId>),
}

impl HoldCheck {
    /// Why the seats can't be sold, if they can't.
    pub fn refusal(self) -> Option<NotSold> {
        match self {
            Self::AllHeld => None,
            Self::Sold(seats) => Some(NotSold::Sold(seats)),
            Self::Missing(seats) => Some(NotSold::NotHeld(seats)),
        }
    }
}

#[async_trait]
pub trait HoldStore: Send + Sync {
    /// Holds every seat for the user, or none of them.
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError>;
    /// Compare-and-delete: false when the seat is not held by this user.
    async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<bool, StoreError>;
    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError>;
    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError>;
    async fn unavailable(&self, show: ShowId) -> Result<Unavailable, StoreError>;
    /// Whether every seat is still held by this user and none is known sold; if so, the holds
    /// are kept for at least `keep`, so they can't lapse while the sale commits.
    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError>;
    /// After the sale committed in Postgres: mark the seats sold, drop the user's holds and
    /// give the active slot back.
    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError>;
    /// Record seats Postgres says are sold, so holds on them fail fast.
    async fn mark_sold(&self, show: ShowId, seats: &[SeatId]) -> Result<(), StoreError>;
}

/// The public catalog as the serving store keeps it. Postgres is its source of truth; on
/// Redis it is a cache, filled from Postgres when found empty, and read from Postgres while
/// Redis can't answer.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Every concert with its shows, or just `only` (empty when there is no such concert).
    async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, StoreError>;
    /// The show's seats (empty for a show that doesn't exist).
    async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError>;
    /// A concert Postgres just recorded: readers learn of it now, or at their next reload.
    async fn concert_added(&self, id: ConcertId, title: &str);
    /// A show Postgres just recorded.
    async fn show_added(&self, show: &ShowInfo) -> Result<(), StoreError>;
    /// The show's seat map, sales and settings, as Postgres has them now.
    async fn show_loaded(&self, show: ShowId, config: &QueueConfig, seats: &[Seat]) -> Result<(), StoreError>;
    /// Something may not have reached the catalog: the next read reloads it from Postgres.
    async fn reload_later(&self);
}

/// The catalog as its record (Postgres) has it: what a cache of it is filled from.
#[async_trait]
pub trait CatalogRecord: Send + Sync {
    async fn concerts(&self) -> Result<Vec<ConcertInfo>, StoreError>;
    async fn concert_exists(&self, id: ConcertId) -> Result<bool, StoreError>;
    async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError>;
    async fn sold_seats(&self, show: ShowId) -> Result<Vec<SeatId>, StoreError>;
}
