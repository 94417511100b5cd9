//! What every handler and worker shares, and the few steps that combine stores: loading a
//! show into Redis from Postgres when Redis doesn't have it, and the cached catalog.

use std::future::Future;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Tokens;
use crate::cache::{Cursors, SeatMap, SeatMaps};
use crate::config::Settings;
use crate::domain::catalog::ConcertInfo;
use crate::domain::{ConcertId, ShowId};
use crate::store::postgres::Database;
use crate::store::redis::Redis;
use crate::store::redis::catalog::CatalogCache;
use crate::store::redis::events::EventStream;
use crate::store::redis::holds::RedisHolds;
use crate::store::redis::queue::RedisQueue;
use crate::store::{HoldStore, QueueStore, StoreError};
use crate::worker::ShowList;
use crate::worker::write_behind::Lag;

pub struct AppState {
    pub settings: Settings,
    pub db: Database,
    pub redis: Arc<Redis>,
    pub queue: Arc<dyn QueueStore>,
    pub holds: Arc<dyn HoldStore>,
    pub catalog: CatalogCache,
    pub events: EventStream,
    pub cursors: Cursors,
    pub seat_maps: SeatMaps,
    pub tokens: Tokens,
    pub metrics: PrometheusHandle,
    /// The shows the workers tick and drain.
    pub shows: ShowList,
    pub write_behind_lag: Lag,
}

impl AppState {
    pub fn new(settings: Settings, db: Database, redis: Arc<Redis>, metrics: PrometheusHandle) -> Self {
        let tokens = Tokens::new(&settings.auth.jwt_secret, settings.auth.user_token_ttl);
        Self {
            queue: Arc::new(RedisQueue::new(redis.clone())),
            holds: Arc::new(RedisHolds::new(redis.clone())),
            catalog: CatalogCache::new(redis.clone()),
            events: EventStream::new(redis.clone()),
            cursors: Cursors::default(),
            seat_maps: SeatMaps::default(),
            settings,
            db,
            redis,
            tokens,
            metrics,
            shows: ShowList::default(),
            write_behind_lag: Lag::default(),
        }
    }

    /// Runs a show operation; if Redis has no state for the show (never loaded, or lost),
    /// loads it from Postgres and runs the operation once more.
    pub async fn with_show<T, F, Fut>(&self, show: ShowId, operation: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        match operation().await {
            Err(StoreError::ShowNotLoaded(_)) => {
                self.load_show(show).await?;
                operation().await
            }
            other => other,
        }
    }

    /// Copies a show's seats, sales and queue settings from Postgres into Redis.
    #[tracing::instrument(skip(self))]
    pub async fn load_show(&self, show: ShowId) -> Result<(), StoreError> {
        let config =
            self.db.queue_config(show).await?.ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))?;
        let seats = self.db.seats(show).await?;
        let sold = self.db.sold_seats(show).await?;
        self.catalog.load_show(show, &config, &seats, &sold).await?;
        self.events.ensure_group(show).await?;
        self.seat_maps.insert(show, seats);
        Ok(())
    }

    /// The show's seat map: from memory, else the Redis cache, else Postgres.
    pub async fn seat_map(&self, show: ShowId) -> Result<Arc<SeatMap>, StoreError> {
        if let Some(map) = self.seat_maps.get(show) {
            return Ok(map);
        }
        if let Ok(Some(seats)) = self.catalog.seat_map(show).await {
            return Ok(self.seat_maps.insert(show, seats));
        }
        self.load_show(show).await?;
        self.seat_maps.get(show).ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))
    }

    /// Concerts from the Redis cache, loading it from Postgres when it is empty. When Redis
    /// is unreachable the catalog is read from Postgres directly.
    pub async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, StoreError> {
        let refill = match (self.catalog.concerts(only).await, only) {
            (Ok(Some(concerts)), None) => return Ok(concerts),
            (Ok(Some(concerts)), Some(_)) if !concerts.is_empty() => return Ok(concerts),
            // Cached, but not this concert: reload only if Postgres has it (a cache write
            // may have failed when it was created); an unknown id costs one indexed lookup.
            (Ok(Some(_)), Some(id)) if !self.db.concert_exists(id).await? => return Ok(Vec::new()),
            (Ok(_), _) => true,
            (Err(StoreError::Unavailable(why)), _) => {
                tracing::warn!(%why, "catalog cache unreachable, reading Postgres");
                false
            }
            (Err(other), _) => return Err(other),
        };
        let all = self.db.concerts().await?;
        if refill {
            self.catalog.load(&all).await?;
        }
        Ok(all.into_iter().filter(|c| only.is_none_or(|id| c.id == id)).collect())
    }

    /// The admission cursor of a show: this instance's cached value, or Redis' on a miss.
    pub async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        if let Some(cursor) = self.cursors.get(show) {
            return Ok(cursor);
        }
        let cursor = self.queue.cursor(show).await?;
        self.cursors.observe(show, cursor);
        Ok(cursor)
    }
}
