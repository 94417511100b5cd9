//! The deployment: which backend every instance serves from, whether this one can serve,
//! and bringing Redis back after the fallback.
//!
//! Every instance follows the mode row: a `NOTIFY` on each change, and a re-read at least
//! every half second as a safety net, so an instance learns a switch within a second. Every
//! instance also probes Redis each second (past the breaker) and reports in Postgres how long
//! it has reached Redis without a failure. When the deployment is on Postgres and every live
//! instance has reached Redis for the recovery time, one instance rebuilds Redis and flips
//! the mode back (see [`super::Backend::rebuild_redis`]).

use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::PgListener;
use tokio::time::Instant;
use utoipa::ToSchema;

use super::Sale;
use crate::cache::LagSnapshot;
use crate::store::StoreError;
use crate::store::postgres::mode::CHANNEL;

/// Instances not heard from for this long don't count (they stopped or crashed).
const ALIVE: Duration = Duration::from_secs(5);
/// Longest the rebuild waits for the old event streams to drain into Postgres.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `up` or `down`.
    pub redis: &'static str,
    /// `up` or `down`.
    pub postgres: &'static str,
    /// `closed`, `open` or `half_open`.
    pub breaker: &'static str,
    /// The store user requests are served from: `redis`, or `postgres` while the deployment
    /// is on the fallback (also while Redis is being rebuilt).
    pub backend: &'static str,
    /// `redis`, `postgres` or `rebuilding`.
    pub mode: &'static str,
    pub write_behind: WriteBehindHealth,
    /// What in the Redis set-up can lose or refuse data: an eviction policy other than
    /// `noeviction`, a master with fewer replicas in sync than acknowledgments wait for,
    /// slots no node serves. Empty when all is well; null when Redis could not be asked.
    pub redis_problems: Option<Vec<String>>,
    /// Whether this instance can serve users (from either backend).
    #[serde(skip)]
    pub serves: bool,
}

#[derive(Serialize, ToSchema, Default)]
pub struct WriteBehindHealth {
    /// Stream entries waiting in Redis to be written to Postgres (one entry carries one
    /// state change, or every join of one batched script call).
    pub backlog: u64,
    /// Age of the oldest event not yet in Postgres, in seconds.
    pub oldest_unwritten_s: f64,
}

impl From<LagSnapshot> for WriteBehindHealth {
    fn from(lag: LagSnapshot) -> Self {
        Self { backlog: lag.backlog, oldest_unwritten_s: lag.oldest_unwritten.as_secs_f64() }
    }
}

fn up(ok: bool) -> &'static str {
    if ok { "up" } else { "down" }
}

impl Sale {
    /// Whether the service can serve users, from either backend, and what it sees.
    pub async fn readiness(&self) -> Readiness {
        let (redis_up, postgres_up) = tokio::join!(self.redis.ping(), self.db.ping());
        let redis_problems = if redis_up { self.redis.hygiene_problems().await.ok() } else { None };
        Readiness {
            redis: up(redis_up),
            postgres: up(postgres_up),
            breaker: self.redis.breaker_state().as_str(),
            backend: self.backend.backend(),
            mode: self.backend.mode_name(),
            write_behind: self.write_behind_lag().into(),
            redis_problems,
            serves: self.backend.can_serve(redis_up, postgres_up),
        }
    }

    /// Says at start-up what in the Redis set-up can lose or refuse data (it serves anyway:
    /// `/readyz` keeps saying it, and the backend serves from Postgres while Redis can't
    /// replicate).
    pub async fn report_redis_hygiene(&self) {
        match self.redis.hygiene_problems().await {
            Ok(problems) => problems.iter().for_each(|problem| tracing::warn!(problem, "redis set-up")),
            Err(error) => tracing::warn!(%error, "could not check the redis set-up"),
        }
    }

    /// Re-reads the deployment's mode and follows it.
    pub async fn follow_deployment(&self) {
        if let Err(error) = self.backend.refresh().await {
            tracing::debug!(%error, "cannot read the backend mode");
        }
    }

    /// Notifications of changes of the deployment's mode.
    pub async fn listen_for_switches(&self) -> Result<PgListener, sqlx::Error> {
        self.db.listen(CHANNEL).await
    }

    /// Probes Redis past the breaker and reports this instance in Postgres with how long it
    /// has reached Redis (since `reachable_since`, which the probe moves). Returns that
    /// time, `None` while Redis isn't reachable.
    pub async fn report_instance(&self, reachable_since: &mut Option<Instant>) -> Result<Option<Duration>, StoreError> {
        let probe = self.redis.probe().await;
        if let Err(error) = &probe {
            tracing::debug!(%error, "redis probe failed");
        }
        *reachable_since = if probe.is_ok() { reachable_since.or(Some(Instant::now())) } else { None };
        let ok_for = reachable_since.map(|since| since.elapsed());
        self.db.deployment().heartbeat(self.backend.instance(), ok_for).await?;
        Ok(ok_for)
    }

    /// How many instances of the deployment are live now.
    pub async fn live_instances(&self) -> Option<u32> {
        self.db.deployment().live_instances(ALIVE).await.ok().map(|live| u32::try_from(live).unwrap_or(u32::MAX))
    }

    /// Rebuilds Redis from Postgres and flips the deployment back, when it waits for that
    /// and every live instance has reached Redis for `steady`.
    pub async fn rebuild_if_due(&self, steady: Duration) {
        if !self.backend.awaits_rebuild() {
            return;
        }
        match self.db.deployment().all_instances_reach_redis(ALIVE, steady).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => return tracing::debug!(%error, "cannot read the instances"),
        }
        // This instance's latest marks first: the rebuild copies the shows the registry lists.
        self.follow_season().await;
        if let Err(error) = self.backend.rebuild_redis(async || self.drain_streams().await).await {
            tracing::warn!(%error, "redis rebuild failed");
        }
    }

    /// Writes what the old event streams still hold to Postgres (joins, admissions, holds
    /// made on Redis before the switch), until every stream is acknowledged or the limit
    /// passes.
    async fn drain_streams(&self) {
        let started = Instant::now();
        while started.elapsed() < DRAIN_LIMIT {
            let _ = self.write_behind(self.backend.instance()).await;
            if self.unwritten().await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!("old event streams not drained in time; their places come back as tokens are presented");
    }
}
