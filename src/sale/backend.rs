//! The one switch point between Redis and the Postgres fallback: [`Backend`] makes every
//! decision that depends on the deployment's mode, and nothing else asks which mode it is.
//!
//! It implements the store traits (queue, holds, catalog) by sending every call to the
//! backend the whole deployment is on (the mode row in Postgres; every instance follows it),
//! and says which feeds of seat changes and cursors to follow, how fresh a cached cursor
//! must be, what the write-behind does with an old stream, and when Redis is rebuilt.
//!
//! - On Redis, a call the open circuit breaker refused moves the deployment to Postgres and
//!   is then served there; a call that failed is answered 503 (it may have happened in
//!   Redis, so it is not repeated elsewhere), and if the breaker opened or Redis doesn't
//!   answer a probe either, the deployment moves.
//! - A show whose keys Redis lost is reloaded from Postgres, queue and all, behind a hole for
//!   the places Postgres has not heard of.
//! - On Postgres, a call that finds the deployment back on Redis is repeated there.
//! - A place the serving store lost is reinstated when its signed queue token is presented.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::time::Instant;
use uuid::Uuid;

use super::acknowledged::{AckedHold, AcknowledgedHolds};
use crate::cache::Cursors;
use crate::domain::catalog::Seat;
use crate::domain::from_millis;
use crate::domain::queue::QueueConfig;
use crate::store::event::StreamEvent;
use crate::store::postgres::Database;
use crate::store::postgres::catalog::PgCatalog;
use crate::store::postgres::events::AdoptedHold;
use crate::store::postgres::holds::PgHolds;
use crate::store::postgres::mode::ModeRow;
use crate::store::postgres::queue::PgQueue;
use crate::store::postgres::reservations::Sale;
use crate::store::postgres::snapshot::show_snapshot;
use crate::store::redis::catalog::{CatalogCache, RedisCatalog};
use crate::store::redis::events::{EventStream, Stream};
use crate::store::redis::holds::RedisHolds;
use crate::store::redis::queue::RedisQueue;
use crate::store::redis::rebuild::{forget_show, rebuild_show};
use crate::store::redis::{BreakerState, Redis};
use crate::store::{
    AdmissionTick, CatalogStore, HoldCheck, HoldOutcome, HoldStore, JoinOutcome, Mode, NotSold, Presence, QueueCounts,
    QueueStore, SeatStates, StoreError, Unavailable, UserHolds,
};

/// How stale a cached cursor may be while Postgres serves (an instance that doesn't run the
/// admission ticker hears of admissions only by asking).
pub const CURSOR_MAX_AGE_ON_POSTGRES: Duration = Duration::from_millis(500);

/// Where this instance hears of seat changes and admissions for its event streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feeds {
    /// Redis' seat channels and cursor channel.
    Redis,
    /// Postgres' seat notifications, and the cursors of streamed shows read a few times a
    /// second (Postgres has no cursor broadcast).
    Postgres,
}
use crate::clock::Clock;
use crate::domain::queue::{Hole, in_hole};
use crate::domain::{SeatId, ShowId};

#[derive(Clone, Copy)]
enum Side {
    Redis,
    Postgres,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Redis => "redis",
            Side::Postgres => "postgres",
        }
    }
}

pub struct Backend {
    /// This instance's name among the deployment's.
    instance: String,
    mode: AtomicU8,
    epoch: AtomicI64,
    redis: Arc<Redis>,
    db: Database,
    clock: Clock,
    cursors: Arc<Cursors>,
    redis_queue: RedisQueue,
    redis_holds: RedisHolds,
    redis_catalog: RedisCatalog,
    pg_queue: PgQueue,
    pg_holds: PgHolds,
    pg_catalog: PgCatalog,
    events: EventStream,
    /// One move to Postgres at a time from this instance.
    moving: tokio::sync::Mutex<()>,
    /// One change of the local mode at a time.
    adopting: tokio::sync::Mutex<()>,
    hold_handover: Duration,
    /// Holds this instance acknowledged on Redis, for Postgres at a switch.
    acknowledged: AcknowledgedHolds,
    /// One hand-over of them at a time; Postgres decides no hold while one is under way.
    handing_over: tokio::sync::Mutex<()>,
    /// Shows whose holds Postgres may decide, and since which epoch.
    handed_over: std::sync::Mutex<HashMap<ShowId, i64>>,
}

fn mode_code(mode: Mode) -> u8 {
    match mode {
        Mode::Redis => 0,
        Mode::Postgres => 1,
        Mode::Rebuilding => 2,
    }
}

impl Backend {
    /// Starts on Redis; [`Self::refresh`] adopts the deployment's mode. Must be called
    /// inside the tokio runtime that should run the batched calls.
    pub fn new(redis: Arc<Redis>, db: Database, clock: Clock, cursors: Arc<Cursors>, hold_handover: Duration) -> Self {
        Self {
            instance: format!("boxoffice-{}", &Uuid::new_v4().simple().to_string()[..12]),
            mode: AtomicU8::new(mode_code(Mode::Redis)),
            epoch: AtomicI64::new(-1),
            redis_queue: RedisQueue::new(redis.clone()),
            redis_holds: RedisHolds::new(redis.clone()),
            redis_catalog: RedisCatalog::new(redis.clone(), Arc::new(db.clone())),
            pg_queue: PgQueue::new(db.clone(), clock.clone()),
            pg_holds: PgHolds::new(db.clone(), clock.clone()),
            pg_catalog: PgCatalog::new(db.clone()),
            events: EventStream::new(redis.clone()),
            redis,
            db,
            clock,
            cursors,
            moving: tokio::sync::Mutex::new(()),
            adopting: tokio::sync::Mutex::new(()),
            hold_handover,
            acknowledged: AcknowledgedHolds::default(),
            handing_over: tokio::sync::Mutex::new(()),
            handed_over: Default::default(),
        }
    }

    /// This instance's name: its heartbeat, its write-behind consumer.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The deployment's mode as this instance follows it: for operators' tools and tests.
    /// Every decision by mode is made in this file.
    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Acquire) {
            0 => Mode::Redis,
            1 => Mode::Postgres,
            _ => Mode::Rebuilding,
        }
    }

    /// `redis` or `postgres`: what answers user requests now.
    pub fn backend(&self) -> &'static str {
        self.mode().backend()
    }

    /// `redis`, `postgres` or `rebuilding`: the deployment's mode, for operators.
    pub fn mode_name(&self) -> &'static str {
        self.mode().as_str()
    }

    /// Whether this instance can serve users with these stores reachable: from the backend
    /// the deployment is on, or from Postgres, which can always take over.
    pub fn can_serve(&self, redis_up: bool, postgres_up: bool) -> bool {
        postgres_up || (self.mode() == Mode::Redis && redis_up)
    }

    /// Now, on the clock every instance agrees on (Redis' in production).
    pub fn now_ms(&self) -> i64 {
        self.clock.estimate_ms()
    }

    /// The time a test set by hand, for the stores that take "now" from the caller.
    pub fn injected_now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.clock.injected()
    }

    /// The catalog as the serving store keeps it.
    pub fn catalog(&self) -> &dyn CatalogStore {
        match self.mode() {
            Mode::Redis => &self.redis_catalog,
            _ => &self.pg_catalog,
        }
    }

    /// A show created, or its settings changed, in Postgres: while Redis serves, the show's
    /// state there follows at once (a rebuild copies it later otherwise). A show Redis lost
    /// comes back whole, not as settings over an empty queue.
    pub async fn show_changed(&self, show: ShowId, config: &QueueConfig, seats: &[Seat]) -> Result<(), StoreError> {
        if self.mode() != Mode::Redis {
            return Ok(());
        }
        self.ensure_loaded(show).await?;
        self.redis_catalog.show_loaded(show, config, seats).await?;
        for stream in self.events.streams(show).await? {
            self.events.ensure_group(&stream).await?;
        }
        Ok(())
    }

    /// How old a cached cursor may be before it is read again: on Redis, Pub/Sub and the
    /// admission ticks keep it current; Postgres has no broadcast.
    pub fn cursor_max_age(&self) -> Option<Duration> {
        match self.mode() {
            Mode::Redis => None,
            _ => Some(CURSOR_MAX_AGE_ON_POSTGRES),
        }
    }

    pub fn feeds(&self) -> Feeds {
        match self.mode() {
            Mode::Redis => Feeds::Redis,
            _ => Feeds::Postgres,
        }
    }

    /// Records a batch of a show's event stream in Postgres. While Redis serves, Postgres
    /// mirrors the holds Redis decides; after a switch these are an old stream's events,
    /// whose places are recorded and whose holds Postgres adopts where the seat is free.
    pub async fn record_events(&self, stream: &Stream, batch: &[StreamEvent]) -> Result<u64, StoreError> {
        self.db.write_behind().record_events(stream.show, stream.lane, batch, self.mode() == Mode::Redis).await
    }

    /// The show's stream is written to its end: after a switch, Postgres may decide its
    /// holds from now on.
    pub async fn stream_drained(&self, show: ShowId) -> Result<(), StoreError> {
        if self.mode() == Mode::Redis {
            return Ok(());
        }
        self.db.deployment().holds_handed_over(show).await
    }

    /// A failed write-behind round is news while Redis serves; on Postgres it is expected
    /// (the old streams are drained once Redis is back).
    pub fn write_behind_failure_expected(&self) -> bool {
        self.mode() != Mode::Redis
    }

    /// Whether a show seen quiet may leave the live shows: not while Postgres serves, so that
    /// every show touched then is still live when the rebuild copies the live shows.
    pub fn retires_quiet_shows(&self) -> bool {
        self.mode() == Mode::Redis
    }

    /// Whether a show some fan touches must be in the registry of live shows before the
    /// fan's change is made (while Postgres serves: the rebuild copies what it lists).
    pub fn marks_live_shows_at_once(&self) -> bool {
        self.mode() != Mode::Redis
    }

    /// Whether Redis is to be rebuilt from Postgres once the whole deployment reaches it (not
    /// while pinned to Postgres, or already rebuilding).
    pub fn awaits_rebuild(&self) -> bool {
        self.mode() == Mode::Postgres
    }

    /// Reads the deployment's mode and follows it.
    pub async fn refresh(&self) -> Result<ModeRow, StoreError> {
        let row = self.db.deployment().mode_row().await?;
        self.adopt(row).await;
        Ok(row)
    }

    /// Follows a mode read from Postgres. The holes are loaded before requests go to the new
    /// backend, so no position is computed without them.
    pub async fn adopt(&self, row: ModeRow) {
        let _one_at_a_time = self.adopting.lock().await;
        let (before, epoch) = (self.mode(), self.epoch.load(Ordering::Acquire));
        if row.epoch < epoch || (row.epoch == epoch && row.mode == before) {
            return;
        }
        match self.db.deployment().holes().await {
            Ok(holes) => self.cursors.set_holes(holes),
            Err(error) => {
                tracing::warn!(%error, "cannot read the queue holes; staying on {}", before.as_str());
                return;
            }
        }
        if row.mode == Mode::Redis && before != Mode::Redis {
            self.redis.reset_breaker();
        }
        self.mode.store(mode_code(row.mode), Ordering::Release);
        self.epoch.store(row.epoch, Ordering::Release);
        if row.mode != before {
            // Another store's cursors: read each again from the store serving now.
            self.cursors.forget_all();
        }
        for mode in [Mode::Redis, Mode::Postgres, Mode::Rebuilding] {
            metrics::gauge!("boxoffice_backend_mode", "mode" => mode.as_str()).set(f64::from(mode == row.mode));
        }
        if before == Mode::Redis
            && row.mode != Mode::Redis
            && let Err(error) = self.hand_over_acknowledged().await
        {
            tracing::warn!(%error, "holds acknowledged on redis not handed over yet; retried before postgres decides holds");
        }
        if epoch >= 0 && before != row.mode {
            metrics::counter!("boxoffice_backend_switches_total", "to" => row.mode.as_str()).increment(1);
            tracing::warn!(from = before.as_str(), to = row.mode.as_str(), epoch = row.epoch, "backend mode changed");
        }
    }

    /// Moves the whole deployment to Postgres (unless an instance already did).
    pub async fn move_to_postgres(&self, reason: &str) -> Result<(), StoreError> {
        let _one_at_a_time = self.moving.lock().await;
        if self.mode() != Mode::Redis {
            return Ok(());
        }
        tracing::warn!(reason, "redis can't serve: moving the deployment to postgres");
        let row = self.db.deployment().switch_to_postgres(reason, &self.cursors.all(), false).await?;
        // Say at once that this instance can't reach Redis, before another instance reads
        // the heartbeats to decide whether everyone can.
        self.db.deployment().heartbeat(&self.instance, None).await?;
        self.adopt(row).await;
        Ok(())
    }

    /// Pins the deployment to a mode (an operator's maintenance, or tests): no automatic
    /// switching until unpinned.
    pub async fn pin(&self, mode: Mode) -> Result<(), StoreError> {
        let row = self.db.deployment().pin_mode(mode).await?;
        self.adopt(row).await;
        Ok(())
    }

    /// The rebuild of Redis from Postgres, by one instance of the deployment: `drain` first
    /// writes what the old event streams still hold to Postgres; then, with Postgres writes
    /// held off, every live show is copied into Redis and the mode flips. No show leaves the
    /// live shows while Postgres serves, so every show touched then is copied; a show that
    /// stayed quiet keeps what Redis had of it (nothing changed), or comes back from Postgres
    /// when first asked for if Redis lost it. False when another
    /// instance does it, or the deployment is not on Postgres (or is pinned there).
    pub async fn rebuild_redis(&self, drain: impl AsyncFnOnce()) -> Result<bool, StoreError> {
        let Some(mut lock) = self.db.deployment().rebuild_lock().await? else { return Ok(false) };
        if !self.db.deployment().begin_rebuild().await? {
            return Ok(false);
        }
        self.refresh().await?;
        tracing::warn!("redis is reachable from every instance again: rebuilding it from postgres");
        // Every instance's probes say Redis answers; the breaker's memory of the outage must
        // not refuse the rebuild's calls.
        self.redis.reset_breaker();
        let started = Instant::now();
        drain().await;
        let drained = started.elapsed();
        // Taken before the mode lock: Postgres writes waiting on that lock hold connections.
        let mut reader = self.db.timed(self.db.pool.acquire()).await?;
        let copy = async || {
            // Read once writes are held off: a show first touched just before is marked.
            let shows = self.db.season().live().await?;
            self.copy_shows(&mut reader, &shows).await?;
            Ok(shows)
        };
        let copied = self.db.deployment().finish_rebuild(&mut lock, copy).await;
        match copied {
            Ok(Some(shows)) => {
                let (took, copy) = (started.elapsed(), started.elapsed() - drained);
                // Catalog changes made meanwhile went to Postgres only.
                if let Err(error) =
                    CatalogCache::new(self.redis.clone()).load(&self.db.catalog().concerts().await?).await
                {
                    tracing::warn!(%error, "catalog cache not reloaded; it reloads when found missing");
                    CatalogCache::new(self.redis.clone()).forget_loaded().await;
                }
                metrics::histogram!("boxoffice_backend_rebuild_seconds").record(took.as_secs_f64());
                metrics::histogram!("boxoffice_backend_rebuild_copy_seconds").record(copy.as_secs_f64());
                metrics::counter!("boxoffice_backend_shows_rebuilt_total").increment(shows.len() as u64);
                let (drain_ms, copy_ms) = (drained.as_millis() as u64, copy.as_millis() as u64);
                tracing::warn!(shows = shows.len(), drain_ms, copy_ms, "redis rebuilt");
                self.refresh().await?;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(error) => {
                tracing::warn!(%error, "rebuilding redis failed; serving from postgres");
                self.db.deployment().abort_rebuild(&format!("rebuild failed: {error}")).await?;
                self.refresh().await?;
                Err(error)
            }
        }
    }

    async fn copy_shows(&self, conn: &mut sqlx::PgConnection, shows: &[ShowId]) -> Result<(), StoreError> {
        for show in shows {
            let snapshot = show_snapshot(conn, *show, self.clock.injected()).await?;
            rebuild_show(&self.redis, &snapshot).await?;
            self.db.deployment().mark_loaded_in_redis(conn, *show).await?;
        }
        Ok(())
    }

    /// Removes an ended show's keys from Redis (its write-behind drained); false while the
    /// deployment doesn't serve from Redis (a rebuild leaves the show out then).
    pub async fn let_go(&self, show: ShowId, seats: &[SeatId]) -> Result<bool, StoreError> {
        if self.mode() != Mode::Redis {
            return Ok(false);
        }
        forget_show(&self.redis, show, seats).await?;
        Ok(true)
    }

    /// The counts of a show whose sale ended, from the record (its Redis keys may be gone).
    pub async fn recorded_counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        self.pg_queue.counts(show).await
    }

    /// The seats of a show whose sale ended, from the record.
    pub async fn recorded_seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        self.pg_holds.seat_states(show).await
    }

    /// Makes sure Redis has the show (queue and all), reloading it from Postgres if Redis
    /// never had it or lost it.
    pub async fn ensure_loaded(&self, show: ShowId) -> Result<(), StoreError> {
        if self.redis_has(show).await? {
            return Ok(());
        }
        self.reload_lost_show(show).await
    }

    /// Whether Redis has the show's keys (its config: the scripts' own test).
    async fn redis_has(&self, show: ShowId) -> Result<bool, StoreError> {
        self.redis.query::<bool>(redis::Cmd::exists(self.redis.keys.show(show).config())).await
    }

    /// Redis has no keys for the show (never loaded, or lost): reload it from Postgres,
    /// queue and all, under a per-show lock.
    #[tracing::instrument(skip(self))]
    async fn reload_lost_show(&self, show: ShowId) -> Result<(), StoreError> {
        let still_lost = async || Ok(!self.redis_has(show).await?);
        let reload = async |conn: &mut sqlx::PgConnection| {
            let snapshot = show_snapshot(conn, show, self.clock.injected()).await?;
            rebuild_show(&self.redis, &snapshot).await
        };
        self.db.deployment().take_over_lost_show(show, self.cursors.get(show), still_lost, reload).await?;
        self.cursors.set_holes(self.db.deployment().holes().await?);
        Ok(())
    }

    /// A user's presence; a place the serving store lost is given back first. Only a seq in
    /// a hole can have been lost (a switch leaves a hole over every seq Redis may have handed
    /// out unrecorded), and only when Postgres never recorded it: a place that was left,
    /// expired or bought stays gone.
    pub async fn presence_with_proof(&self, show: ShowId, user: Uuid, seq: i64) -> Result<Presence, StoreError> {
        let presence = self.presence(show, user).await?;
        let settled = presence.active_until_ms.is_some() || presence.waiting;
        if settled || !in_hole(seq, &self.cursors.holes(show)) || self.db.places().place_closed(show, user, seq).await?
        {
            return Ok(presence);
        }
        tracing::info!(%show, seq, "reinstating a place proved by its queue token");
        metrics::counter!("boxoffice_queue_reinstated_total").increment(1);
        self.reinstate(show, user, seq).await?;
        self.presence(show, user).await
    }

    /// Sells held seats, or says why not (`Err`: sold, or not held by the user). On Postgres
    /// it is one transaction: the holds checked, the sale recorded, the holds released and
    /// the slot given back. On Redis the holds are checked (and kept for `keep`) in Redis,
    /// the sale commits in Postgres, whose primary key decides it, then Redis is told.
    pub async fn sell(
        &self,
        show: ShowId,
        user: Uuid,
        seats: &[SeatId],
        idempotency_key: Option<&str>,
        keep: Duration,
    ) -> Result<Result<Sale, NotSold>, StoreError> {
        if self.mode() != Mode::Redis {
            self.holds_decidable(show).await?;
            match self.db.sales().sell_held(self.clock.injected(), show, user, seats, idempotency_key).await {
                Err(StoreError::ModeChanged) => self.refresh().await.map(drop)?,
                other => return other,
            }
        }
        if let Some(refusal) = self.check(show, user, seats, keep).await?.refusal() {
            return Ok(Err(refusal));
        }
        let sale = self.db.sales().sell(show, user, seats, idempotency_key).await?;
        let told = match &sale {
            Sale::Created(_) => self.complete_sale(show, user, seats).await,
            Sale::SeatsTaken(taken) => self.mark_sold(show, taken).await,
            _ => Ok(()),
        };
        if let Err(error) = told {
            // The sale stands; the holds lapse by themselves and Postgres refuses a resale.
            tracing::warn!(%error, "sale decided in postgres, holds not updated");
        }
        Ok(Ok(sale))
    }

    /// On Postgres, a show's holds and sales wait until the holds Redis acknowledged have
    /// reached Postgres (see [`Database::holds_decidable`]): a 503 meanwhile, so that no seat
    /// held for one fan goes to another. Once they have, nothing more is asked this epoch.
    async fn holds_decidable(&self, show: ShowId) -> Result<(), StoreError> {
        if self.mode() == Mode::Redis {
            return Ok(());
        }
        if !self.acknowledged.is_empty() || self.handing_over.try_lock().is_err() {
            self.hand_over_acknowledged().await?;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let handed_over = || self.handed_over.lock().unwrap_or_else(|e| e.into_inner());
        if handed_over().get(&show) == Some(&epoch) {
            return Ok(());
        }
        if !self.db.deployment().holds_decidable(show, self.hold_handover).await? {
            return Err(StoreError::Unavailable("holds wait for the ones Redis acknowledged to reach Postgres".into()));
        }
        handed_over().insert(show, epoch);
        Ok(())
    }

    /// Journals a hold Redis acknowledged. When the deployment has left Redis meanwhile (the
    /// journal may have been handed over already), it goes to Postgres before the 201.
    async fn acknowledged_on_redis(&self, hold: AckedHold) -> Result<(), StoreError> {
        self.acknowledged.record(hold, self.now_ms());
        if self.mode() != Mode::Redis {
            self.hand_over_acknowledged().await?;
        }
        Ok(())
    }

    /// Writes the holds this instance acknowledged on Redis into Postgres, each kept where
    /// its seat is still free: the write-behind may not have mirrored the last ones before
    /// Redis became unreachable. What fails stays in the journal for the next attempt.
    async fn hand_over_acknowledged(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.handing_over.lock().await;
        let mut outcome = Ok(());
        for (show, holds) in self.acknowledged.take(self.now_ms()) {
            let rows: Vec<AdoptedHold> = holds
                .iter()
                .flat_map(|hold| {
                    let (until, taken) = (from_millis(hold.until_ms), Some(from_millis(hold.taken_ms)));
                    hold.seats.iter().map(move |&seat| AdoptedHold { seat, holder: hold.user, until, taken })
                })
                .collect();
            match self.db.write_behind().adopt_holds(show, &rows).await {
                Ok(()) => {
                    tracing::info!(%show, holds = holds.len(), "holds acknowledged on redis handed over to postgres")
                }
                Err(error) => {
                    self.acknowledged.put_back(holds);
                    outcome = Err(error);
                }
            }
        }
        outcome
    }

    async fn route<'a, T>(&'a self, show: ShowId, op: impl Op<'a, T>) -> Result<T, StoreError> {
        match self.mode() {
            Mode::Redis => self.on_redis(show, &op).await,
            _ => match call(&op, Side::Postgres).await {
                Err(StoreError::ModeChanged) => {
                    self.refresh().await?;
                    self.on_redis(show, &op).await
                }
                other => other,
            },
        }
    }

    async fn on_redis<'a, T>(&'a self, show: ShowId, op: &impl Op<'a, T>) -> Result<T, StoreError> {
        let result = match call(op, Side::Redis).await {
            Err(StoreError::ShowNotLoaded(_)) => {
                self.reload_lost_show(show).await?;
                call(op, Side::Redis).await
            }
            other => other,
        };
        match result {
            Err(StoreError::Unsent(why)) => {
                self.move_to_postgres(&why).await?;
                call(op, Side::Postgres).await
            }
            Err(StoreError::Unavailable(why)) => {
                // The call may have happened in Redis: it is not repeated elsewhere. But when
                // Redis doesn't answer a probe either (within half its timeout: the first
                // failure already took one), the next calls go to Postgres now, not after
                // four more timeouts.
                let probe = self.redis.probe_within(self.redis.timeout() / 2);
                if self.redis.breaker_state() == BreakerState::Open || probe.await.is_err() {
                    self.move_to_postgres(&why).await?;
                }
                Err(StoreError::Unavailable(why))
            }
            other => other,
        }
    }

    fn queue(&self, side: Side) -> &dyn QueueStore {
        match side {
            Side::Redis => &self.redis_queue,
            Side::Postgres => &self.pg_queue,
        }
    }

    fn holds(&self, side: Side) -> &dyn HoldStore {
        match side {
            Side::Redis => &self.redis_holds,
            Side::Postgres => &self.pg_holds,
        }
    }
}

/// A store call that can be sent to either side.
trait Op<'a, T>: Fn(Side) -> BoxFuture<'a, Result<T, StoreError>> + Send + Sync {}
impl<'a, T, F: Fn(Side) -> BoxFuture<'a, Result<T, StoreError>> + Send + Sync> Op<'a, T> for F {}

/// One call on one side, counted by backend.
async fn call<'a, T>(op: &impl Op<'a, T>, side: Side) -> Result<T, StoreError> {
    metrics::counter!("boxoffice_store_calls_total", "backend" => side.name()).increment(1);
    op(side).await
}

#[async_trait]
impl QueueStore for Backend {
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        self.route(show, |side| self.queue(side).join(show, user)).await
    }

    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        self.route(show, |side| self.queue(side).presence(show, user)).await
    }

    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        self.route(show, |side| self.queue(side).reinstate(show, user, seq)).await
    }

    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        self.route(show, |side| self.queue(side).leave(show, user)).await
    }

    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        self.route(show, |side| self.queue(side).admit(show, max_batch)).await
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        self.route(show, |side| self.queue(side).cursor(show)).await
    }

    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        self.route(show, |side| self.queue(side).counts(show)).await
    }

    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError> {
        self.route(show, |side| self.queue(side).holes(show)).await
    }

    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        self.route(show, |side| self.queue(side).place_of(show, user)).await
    }

    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        self.route(show, |side| self.queue(side).close_for_draw(show, pre_queue_size)).await
    }

    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        self.route(show, |side| self.queue(side).place_drawn(show, base, users)).await
    }

    async fn spend_challenge(&self, show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        self.route(show, |side| self.queue(side).spend_challenge(show, id, expires_at_ms)).await
    }
}

#[async_trait]
impl HoldStore for Backend {
    async fn hold(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<HoldOutcome, StoreError> {
        self.route(show, |side| {
            Box::pin(async move {
                if let Side::Postgres = side {
                    // Also when the call that found Redis gone moved the deployment just now.
                    self.holds_decidable(show).await?;
                }
                let outcome = self.holds(side).hold(show, user, seats).await?;
                if let (Side::Redis, HoldOutcome::Held { expires_at_ms, recorded_at_ms }) = (side, &outcome) {
                    let (seats, until_ms, taken_ms) = (seats.to_vec(), *expires_at_ms, *recorded_at_ms);
                    let hold = AckedHold { show, user, seats, until_ms, taken_ms };
                    self.acknowledged_on_redis(hold).await?;
                }
                Ok(outcome)
            })
        })
        .await
    }

    async fn release(&self, show: ShowId, user: Uuid, seat: SeatId) -> Result<bool, StoreError> {
        let released = self.route(show, |side| self.holds(side).release(show, user, seat)).await?;
        self.acknowledged.released(show, user, seat);
        Ok(released)
    }

    async fn holds_of(&self, show: ShowId, user: Uuid) -> Result<UserHolds, StoreError> {
        self.route(show, |side| self.holds(side).holds_of(show, user)).await
    }

    async fn seat_states(&self, show: ShowId) -> Result<SeatStates, StoreError> {
        self.route(show, |side| self.holds(side).seat_states(show)).await
    }

    async fn unavailable(&self, show: ShowId) -> Result<Unavailable, StoreError> {
        self.route(show, |side| self.holds(side).unavailable(show)).await
    }

    async fn check(&self, show: ShowId, user: Uuid, seats: &[SeatId], keep: Duration) -> Result<HoldCheck, StoreError> {
        self.route(show, |side| self.holds(side).check(show, user, seats, keep)).await
    }

    async fn complete_sale(&self, show: ShowId, user: Uuid, seats: &[SeatId]) -> Result<(), StoreError> {
        self.route(show, |side| self.holds(side).complete_sale(show, user, seats)).await
    }

    async fn mark_sold(&self, show: ShowId, seats: &[SeatId]) -> Result<(), StoreError> {
        self.route(show, |side| self.holds(side).mark_sold(show, seats)).await
    }
}
