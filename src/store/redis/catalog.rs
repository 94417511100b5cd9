//! The catalog cache: concerts and shows as Hashes and Sets under the `{cat}` hash tag (one
//! script reads them all in one round trip), and per show, in the show's own slot, the seat
//! map, the sold seats and the queue settings. Postgres stays the source of truth: a
//! missing `loaded` marker (never loaded, or lost in a failover) means "reload from Postgres".

use std::sync::Arc;

use serde::Deserialize;

use async_trait::async_trait;

use super::keys::CatalogKeys;
use super::{Redis, scripts};
use crate::domain::catalog::{ConcertInfo, Seat, ShowInfo};
use crate::domain::queue::QueueConfig;
use crate::domain::{ConcertId, SeatId, ShowId};
use crate::store::snapshot::PendingDraw;
use crate::store::{CatalogRecord, CatalogStore, StoreError};

/// The catalog while Redis serves: read from the cache, which is filled from Postgres when
/// found empty; read from Postgres while Redis can't answer.
pub struct RedisCatalog {
    cache: CatalogCache,
    record: Arc<dyn CatalogRecord>,
}

impl RedisCatalog {
    pub fn new(redis: Arc<Redis>, record: Arc<dyn CatalogRecord>) -> Self {
        Self { cache: CatalogCache::new(redis), record }
    }
}

#[async_trait]
impl CatalogStore for RedisCatalog {
    async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, StoreError> {
        let refill = match (self.cache.concerts(only).await, only) {
            (Ok(Some(concerts)), None) => return Ok(concerts),
            (Ok(Some(concerts)), Some(_)) if !concerts.is_empty() => return Ok(concerts),
            // Cached, but not this concert: reload only if Postgres has it (a cache write
            // may have failed when it was created); an unknown id costs one indexed lookup.
            (Ok(Some(_)), Some(id)) if !self.record.concert_exists(id).await? => return Ok(Vec::new()),
            (Ok(_), _) => true,
            (Err(StoreError::Unavailable(_) | StoreError::Unsent(_)), _) => false,
            (Err(other), _) => return Err(other),
        };
        let all = self.record.concerts().await?;
        if refill {
            self.cache.load(&all).await?;
        }
        Ok(all.into_iter().filter(|c| only.is_none_or(|id| c.id == id)).collect())
    }

    async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError> {
        if let Ok(Some(seats)) = self.cache.seat_map(show).await {
            return Ok(seats);
        }
        self.record.seats(show).await
    }

    async fn concert_added(&self, id: ConcertId, title: &str) {
        if let Err(error) = self.cache.put_concert(id, title).await {
            tracing::warn!(%error, concert = %id, "concert saved, catalog cache not updated");
            self.cache.forget_loaded().await;
        }
    }

    async fn show_added(&self, show: &ShowInfo) -> Result<(), StoreError> {
        self.cache.put_show(show).await
    }

    async fn show_loaded(&self, show: ShowId, config: &QueueConfig, seats: &[Seat]) -> Result<(), StoreError> {
        let sold = self.record.sold_seats(show).await?;
        self.cache.load_show(show, config, seats, &sold).await
    }

    async fn reload_later(&self) {
        self.cache.forget_loaded().await;
    }
}

pub struct CatalogCache {
    redis: Arc<Redis>,
}

impl CatalogCache {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }

    /// All concerts, or just `only`; `None` when the cache has not been loaded.
    #[tracing::instrument(skip(self))]
    pub async fn concerts(&self, only: Option<ConcertId>) -> Result<Option<Vec<ConcertInfo>>, StoreError> {
        let keys = self.redis.keys.catalog();
        let mut call = scripts::CATALOG_READ.prepare_invoke();
        call.key(keys.loaded()).arg(&keys.base).arg(only.map(|id| id.to_string()).unwrap_or_default());
        let json: Option<String> = self.redis.invoke(call).await?;
        let Some(json) = json else { return Ok(None) };
        let cached: Vec<CachedConcert> = lua_list(&json)?;
        let mut concerts: Vec<ConcertInfo> =
            cached.into_iter().map(CachedConcert::into_info).collect::<Result<_, _>>()?;
        concerts.sort_by_key(|c| c.id);
        Ok(Some(concerts))
    }

    /// Replaces the cached catalog with what Postgres holds, then marks it loaded.
    #[tracing::instrument(skip_all, fields(concerts = concerts.len()))]
    pub async fn load(&self, concerts: &[ConcertInfo]) -> Result<(), StoreError> {
        let keys = self.redis.keys.catalog();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for concert in concerts {
            add_concert(&mut pipe, &keys, concert.id, &concert.title);
            for show in &concert.shows {
                add_show(&mut pipe, &keys, show);
            }
        }
        pipe.set(keys.loaded(), 1).ignore();
        self.redis.run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await
    }

    /// Makes the next read reload the catalog from Postgres (best effort: Redis may be down,
    /// in which case reads go to Postgres anyway).
    pub async fn forget_loaded(&self) {
        let _ = self.redis.query::<()>(redis::Cmd::del(self.redis.keys.catalog().loaded())).await;
    }

    pub async fn put_concert(&self, id: ConcertId, title: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        add_concert(&mut pipe, &self.redis.keys.catalog(), id, title);
        self.redis.run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await
    }

    pub async fn put_show(&self, show: &ShowInfo) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        add_show(&mut pipe, &self.redis.keys.catalog(), show);
        self.redis.run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await
    }

    /// Loads one show's slot: the seat map, the seats sold so far and the queue settings.
    pub async fn load_show(
        &self,
        show: ShowId,
        config: &QueueConfig,
        seats: &[Seat],
        sold: &[SeatId],
    ) -> Result<(), StoreError> {
        load_show(&self.redis, show, config, seats, sold, None).await
    }

    /// The cached seat map; `None` when it is not cached.
    #[tracing::instrument(skip(self))]
    pub async fn seat_map(&self, show: ShowId) -> Result<Option<Vec<Seat>>, StoreError> {
        let raw: Vec<String> = self.redis.query(redis::Cmd::hvals(self.redis.keys.show(show).seats())).await?;
        if raw.is_empty() {
            return Ok(None);
        }
        let mut seats: Vec<Seat> = raw
            .iter()
            .map(|json| serde_json::from_str(json))
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Internal(e.into()))?;
        seats.sort_by_key(|s| s.id);
        Ok(Some(seats))
    }
}

fn add_concert(pipe: &mut redis::Pipeline, keys: &CatalogKeys, id: ConcertId, title: &str) {
    pipe.hset(keys.concert(id), "title", title).ignore();
    pipe.sadd(keys.concerts(), id).ignore();
}

fn add_show(pipe: &mut redis::Pipeline, keys: &CatalogKeys, show: &ShowInfo) {
    let fields = [("starts_at", show.starts_at.to_rfc3339()), ("seat_count", show.seat_count.to_string())];
    pipe.hset_multiple(keys.show(show.id), &fields).ignore();
    pipe.sadd(keys.concert_shows(show.concert_id), show.id).ignore();
}

#[derive(Deserialize)]
struct CachedConcert {
    id: ConcertId,
    title: String,
    shows: serde_json::Value,
}

#[derive(Deserialize)]
struct CachedShow {
    id: ShowId,
    concert_id: ConcertId,
    starts_at: String,
    seat_count: i64,
}

impl CachedConcert {
    fn into_info(self) -> Result<ConcertInfo, StoreError> {
        let cached: Vec<CachedShow> = lua_list(&self.shows.to_string())?;
        let mut shows = cached
            .into_iter()
            .map(|s| {
                let starts_at = chrono::DateTime::parse_from_rfc3339(&s.starts_at)
                    .map_err(|e| StoreError::Internal(anyhow::anyhow!("cached starts_at: {e}")))?;
                Ok(ShowInfo {
                    id: s.id,
                    concert_id: s.concert_id,
                    starts_at: starts_at.into(),
                    seat_count: s.seat_count,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        shows.sort_by_key(|s| (s.starts_at, s.id));
        Ok(ConcertInfo { id: self.id, title: self.title, shows })
    }
}

/// Redis' Lua cjson writes an empty table as `{}`; read that as an empty list.
fn lua_list<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, StoreError> {
    if json == "{}" {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| StoreError::Internal(anyhow::anyhow!("cached catalog: {e}")))
}

/// Writes a show's seat map, sold seats and queue settings (with a pending draw, see
/// `home::put_config`) into its slot.
#[tracing::instrument(skip_all, fields(show))]
pub(super) async fn load_show(
    redis: &Redis,
    show: ShowId,
    config: &QueueConfig,
    seats: &[Seat],
    sold: &[SeatId],
    pending_draw: Option<PendingDraw>,
) -> Result<(), StoreError> {
    let keys = redis.keys.show(show);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for chunk in seats.chunks(500) {
        let fields: Vec<(SeatId, String)> =
            chunk.iter().map(|s| (s.id, serde_json::to_string(s).unwrap_or_default())).collect();
        pipe.hset_multiple(keys.seats(), &fields).ignore();
    }
    if !sold.is_empty() {
        pipe.sadd(keys.sold(), sold).ignore();
    }
    redis.run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await?;
    // The config goes last: its presence is what tells the scripts the show is loaded.
    super::home::put_config(redis, show, config, pending_draw).await
}
