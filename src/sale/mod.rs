//! The sale: every rule of an on-sale, each in one home, between the handlers and workers
//! above (which parse, authorise, format and schedule) and the stores and caches below.
//!
//! - `queue`: joining (the pre-queue included), where a fan stands, leaving, admission.
//! - `proof`: proof of work for joining.
//! - `seats`: the seat map, holds, releases and sales.
//! - `opening`: a fair opening: the seed and its commitment, the close, the draw, the
//!   drawn places' tokens and the published record.
//! - `catalog`: concerts, shows and their queue settings.
//! - `retention`: deleting what was kept long enough; a show's history as CSV.
//! - `record`: the write-behind of the event streams into Postgres.
//! - `life`: the life of each show's sale (scheduled to ended) and letting go of an ended one.
//! - `season`: which shows are worked on (the live ones), and the settings as they change.
//! - `deployment`: following the deployment's backend, readiness, bringing Redis back.
//! - `feeds`: what tells this instance of changes other instances made (cursors, seats).
//! - [`backend`]: the one place that decides by the deployment's mode (Redis or the
//!   Postgres fallback).
//!
//! One [`Sale`] holds the stores and caches; each file adds the methods of its rule.

mod acknowledged;
pub mod backend;
mod catalog;
mod deployment;
mod feeds;
mod life;
mod opening;
mod proof;
mod queue;
mod record;
mod retention;
mod season;
mod seats;

use std::sync::Arc;

pub use crate::store::postgres::reservations::Reservation;
pub use crate::store::redis::subscription::Subscription as SeatSubscription;
pub use backend::{Backend, Feeds};
pub use catalog::{Availability, ShowCreated};
pub use deployment::{Readiness, WriteBehindHealth};
pub use opening::{DrawEntries, DrawEntry, Fairness, MAX_ENTRIES};
pub use proof::Challenge;
pub use queue::{Joined, PRE_QUEUE_SEQ, QueueStats, QueueStatus, Standing};
pub use record::BATCH as WRITE_BEHIND_BATCH;
pub use seats::{Holds, SaleAnswer, SeatList, SeatStatus, SeatView};

use crate::auth::Tokens;
use crate::cache::{Cursors, Lag, LiveShows, Openings, QueueConfigs, SeatMaps};
use crate::config::Settings;
use crate::store::postgres::Database;
use crate::store::redis::Redis;
use crate::store::redis::events::EventStream;
use crate::store::{HoldStore, QueueStore, StoreError};

pub struct Sale {
    settings: Settings,
    db: Database,
    redis: Arc<Redis>,
    backend: Arc<Backend>,
    events: EventStream,
    cursors: Arc<Cursors>,
    seat_maps: SeatMaps,
    live: LiveShows,
    queue_configs: QueueConfigs,
    openings: Openings,
    tokens: Tokens,
    write_behind_lag: Lag,
}

impl Sale {
    /// Must be called inside the tokio runtime that should run the batched store calls.
    pub fn new(settings: Settings, db: Database, redis: Arc<Redis>, tokens: Tokens) -> Self {
        let cursors = Arc::new(Cursors::default());
        let backend = Arc::new(Backend::new(
            redis.clone(),
            db.clone(),
            redis.clock.clone(),
            cursors.clone(),
            settings.workers.hold_handover,
        ));
        Self {
            events: EventStream::new(redis.clone()),
            seat_maps: SeatMaps::default(),
            live: LiveShows::new(settings.workers.quiet_after),
            queue_configs: QueueConfigs::default(),
            openings: Openings::default(),
            write_behind_lag: Lag::default(),
            settings,
            db,
            redis,
            backend,
            cursors,
            tokens,
        }
    }

    /// Adopts the deployment's backend and reads the shows' settings and the live shows:
    /// what serving needs first.
    pub async fn start(&self) -> Result<(), StoreError> {
        self.backend.refresh().await?;
        self.reload_settings().await;
        self.follow_season().await;
        Ok(())
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The queue store the deployment serves from.
    pub fn queue_store(&self) -> &dyn QueueStore {
        self.backend.as_ref()
    }

    /// The hold store the deployment serves from.
    pub fn hold_store(&self) -> &dyn HoldStore {
        self.backend.as_ref()
    }

    /// For tests and operators' tools that look at the stores themselves.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// For tests and tools, as [`Self::db`].
    pub fn redis(&self) -> &Arc<Redis> {
        &self.redis
    }

    /// For tests and tools, as [`Self::db`].
    pub fn events(&self) -> &EventStream {
        &self.events
    }
}
