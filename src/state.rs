//! What every handler and worker shares, and the few steps that combine stores: the seat
//! maps and the cached catalog.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Tokens;
use crate::cache::{Cursors, DrawnSeqs, Lag, Openings, QueueConfigs, SeatMap, SeatMaps, ShowList};
use crate::config::Settings;
use crate::domain::catalog::{ConcertInfo, ShowInfo};
use crate::domain::{ConcertId, ShowId};
use crate::limits::{IpLimit, Limits, UserLimit};
use crate::push::Push;
use crate::store::postgres::Database;
use crate::store::redis::Redis;
use crate::store::redis::catalog::CatalogCache;
use crate::store::redis::events::EventStream;
use crate::store::switch::Switch;
use crate::store::{HoldStore, Mode, QueueStore, StoreError};

/// How stale a cached cursor may be while Postgres serves (an instance that doesn't run the
/// admission ticker hears of admissions only by asking).
pub const CURSOR_MAX_AGE_ON_POSTGRES: std::time::Duration = std::time::Duration::from_millis(500);

pub struct AppState {
    pub settings: Settings,
    pub db: Database,
    pub redis: Arc<Redis>,
    /// Which backend serves user paths; `queue` and `holds` are this switch.
    pub switch: Arc<Switch>,
    pub queue: Arc<dyn QueueStore>,
    pub holds: Arc<dyn HoldStore>,
    pub catalog: CatalogCache,
    pub events: EventStream,
    pub cursors: Arc<Cursors>,
    pub seat_maps: SeatMaps,
    pub tokens: Tokens,
    pub metrics: PrometheusHandle,
    /// The shows the workers tick and drain.
    pub shows: ShowList,
    pub write_behind_lag: Lag,
    /// The event streams' seat boards and their bound.
    pub push: Push,
    pub limits: Limits,
    pub queue_configs: QueueConfigs,
    pub openings: Openings,
}

impl AppState {
    /// Must be called inside the tokio runtime that should run the batched store calls.
    pub fn new(settings: Settings, db: Database, redis: Arc<Redis>, metrics: PrometheusHandle) -> Self {
        let tokens = Tokens::new(&settings.auth.jwt_secret, settings.auth.user_token_ttl);
        let cursors = Arc::new(Cursors::default());
        let switch = Arc::new(Switch::new(
            redis.clone(),
            db.clone(),
            redis.clock.clone(),
            cursors.clone(),
            settings.workers.hold_handover,
        ));
        Self {
            push: Push::new(settings.http.max_streams, settings.http.keep_alive),
            limits: Limits::new(&settings.limits),
            queue_configs: QueueConfigs::default(),
            openings: Openings::default(),
            queue: switch.clone(),
            holds: switch.clone(),
            switch,
            catalog: CatalogCache::new(redis.clone()),
            events: EventStream::new(redis.clone()),
            cursors,
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

    /// After a show was created or its settings changed in Postgres: its seat map, sales and
    /// settings reach Redis (while the deployment is on Redis; a rebuild copies them later
    /// otherwise).
    #[tracing::instrument(skip(self))]
    pub async fn load_show(&self, show: ShowId) -> Result<(), StoreError> {
        let config =
            self.db.queue_config(show).await?.ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))?;
        let seats = self.db.seats(show).await?;
        if self.switch.mode() == Mode::Redis {
            // A show Redis lost comes back whole, not as settings over an empty queue.
            self.switch.ensure_loaded(show).await?;
            let sold = self.db.sold_seats(show).await?;
            self.catalog.load_show(show, &config, &seats, &sold).await?;
            self.events.ensure_group(show).await?;
        }
        self.seat_maps.insert(show, seats);
        self.shows.add(show);
        Ok(())
    }

    /// Postgres has a new concert; the Redis catalog cache learns of it now, or reloads on
    /// its next read. (While Postgres serves, it answers catalog reads itself and the
    /// rebuild reloads the cache.)
    pub async fn cache_new_concert(&self, id: ConcertId, title: &str) {
        if self.switch.mode() != Mode::Redis {
            return;
        }
        if let Err(error) = self.catalog.put_concert(id, title).await {
            tracing::warn!(%error, concert = %id, "concert saved, catalog cache not updated");
            self.catalog.forget_loaded().await;
        }
    }

    /// Postgres has a new show; the caches learn of it now, or reload on their next read.
    pub async fn cache_new_show(&self, show: &ShowInfo) {
        let cached = match self.switch.mode() {
            Mode::Redis => self.catalog.put_show(show).await,
            _ => Ok(()),
        };
        if let Err(error) = async {
            cached?;
            self.load_show(show.id).await
        }
        .await
        {
            tracing::warn!(%error, show = %show.id, "show saved, catalog cache not updated");
            self.catalog.forget_loaded().await;
        }
    }

    /// The show's seat map: from memory, else the Redis cache, else Postgres.
    pub async fn seat_map(&self, show: ShowId) -> Result<Arc<SeatMap>, StoreError> {
        if let Some(map) = self.seat_maps.get(show) {
            return Ok(map);
        }
        if self.switch.mode() == Mode::Redis
            && let Ok(Some(seats)) = self.catalog.seat_map(show).await
        {
            return Ok(self.seat_maps.insert(show, seats));
        }
        let seats = self.db.seats(show).await?;
        if seats.is_empty() {
            return Err(StoreError::NotFound(format!("no show with id {show}")));
        }
        Ok(self.seat_maps.insert(show, seats))
    }

    /// Concerts from the Redis cache, loading it from Postgres when it is empty. When Redis
    /// is unreachable, or the deployment serves from Postgres, the catalog is read from
    /// Postgres directly.
    pub async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, StoreError> {
        let cached = match self.switch.mode() {
            Mode::Redis => self.catalog.concerts(only).await,
            _ => Err(StoreError::Unsent("the deployment serves from postgres".into())),
        };
        let refill = match (cached, only) {
            (Ok(Some(concerts)), None) => return Ok(concerts),
            (Ok(Some(concerts)), Some(_)) if !concerts.is_empty() => return Ok(concerts),
            // Cached, but not this concert: reload only if Postgres has it (a cache write
            // may have failed when it was created); an unknown id costs one indexed lookup.
            (Ok(Some(_)), Some(id)) if !self.db.concert_exists(id).await? => return Ok(Vec::new()),
            (Ok(_), _) => true,
            (Err(StoreError::Unavailable(_) | StoreError::Unsent(_)), _) => false,
            (Err(other), _) => return Err(other),
        };
        let all = self.db.concerts().await?;
        if refill {
            self.catalog.load(&all).await?;
        }
        Ok(all.into_iter().filter(|c| only.is_none_or(|id| c.id == id)).collect())
    }

    /// The admission cursor of a show: this instance's cached value, or the store's on a
    /// miss. On Redis, Pub/Sub keeps the cache current; on Postgres, which has none, a value
    /// older than [`CURSOR_MAX_AGE_ON_POSTGRES`] is read again.
    pub async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        let max_age = match self.switch.mode() {
            Mode::Redis => None,
            _ => Some(CURSOR_MAX_AGE_ON_POSTGRES),
        };
        if let Some(cursor) = self.cursors.get_fresh(show, max_age) {
            return Ok(cursor);
        }
        let cursor = self.queue.cursor(show).await?;
        self.cursors.observe(show, cursor);
        Ok(cursor)
    }

    /// Closes the show's pre-queue at its opening (idempotent): the store serving the queue
    /// keeps the next seqs for its users, and later joins queue behind them.
    /// Whether it is closed now.
    pub async fn close_pre_queue(&self, show: ShowId) -> Result<bool, StoreError> {
        if self.openings.is_closed(show) {
            return Ok(true);
        }
        let injected = self.redis.clock.injected();
        self.db.close_pre_queue(show, injected, async |size| self.queue.close_for_draw(show, size).await).await?;
        if self.db.fairness(show).await?.is_some_and(|row| row.closed_at.is_some()) {
            // The close made a hole after the drawn seqs: positions behind it skip it.
            self.cursors.set_show_holes(show, self.queue.holes(show).await?);
            self.openings.mark_closed(show);
        }
        Ok(self.openings.is_closed(show))
    }

    /// A queue token for the user's place at `seq`; with the draw's HMAC of the user when
    /// the fair opening drew that place.
    pub async fn drawn_token(&self, show: ShowId, user: uuid::Uuid, seq: i64) -> Result<String, StoreError> {
        Ok(match self.draw_of(show).await?.filter(|draw| draw.contains(seq)) {
            Some(draw) => {
                let key = crate::domain::fairness::draw_key(&draw.seed, user);
                self.tokens.issue_drawn(user, show, seq, hex::encode(key)).token
            }
            None => self.tokens.issue_queue(user, show, seq).token,
        })
    }

    /// The show's draw once its pre-queue closed, from Postgres the first time only.
    async fn draw_of(&self, show: ShowId) -> Result<Option<Arc<DrawnSeqs>>, StoreError> {
        if let Some(draw) = self.openings.draw(show) {
            return Ok(Some(draw));
        }
        let Some(row) = self.db.fairness(show).await? else { return Ok(None) };
        let Some((base, size)) = row.draw_base.zip(row.pre_queue_size) else { return Ok(None) };
        let draw = Arc::new(DrawnSeqs { seed: row.seed, base, size });
        self.openings.remember_draw(show, draw.clone());
        Ok(Some(draw))
    }

    /// 429 unless the client's address is within the limit.
    pub fn limit_ip(&self, limit: IpLimit, req: &actix_web::HttpRequest) -> Result<(), crate::error::ApiError> {
        let Some(peer) = req.peer_addr() else { return Ok(()) };
        // Every X-Forwarded-For line, in order: a proxy may add a line of its own.
        let lines: Vec<&str> = req.headers().get_all("X-Forwarded-For").filter_map(|v| v.to_str().ok()).collect();
        let ip = self.limits.client_ip(peer.ip(), &lines.join(","));
        self.limits.check_ip(limit, ip).map_err(|wait| crate::error::ApiError::rate_limited(limit.as_str(), wait.0))
    }

    /// 429 unless the user is within the limit.
    pub fn limit_user(&self, limit: UserLimit, user: uuid::Uuid) -> Result<(), crate::error::ApiError> {
        self.limits.check_user(limit, user).map_err(|wait| crate::error::ApiError::rate_limited(limit.as_str(), wait.0))
    }

    /// Reloads the show's holes when the store covers another number of seqs with them than
    /// this instance knows (Redis opened a hole after a failover): positions skip them.
    pub async fn sync_holes(&self, show: ShowId, store_total: Option<i64>) -> Result<(), StoreError> {
        if store_total.is_some_and(|total| total != self.cursors.hole_total(show)) {
            self.cursors.set_show_holes(show, self.queue.holes(show).await?);
        }
        Ok(())
    }
}
