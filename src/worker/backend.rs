//! Following the deployment's backend, and bringing it back to Redis.
//!
//! Every instance follows the mode row: a `NOTIFY` on each change, and a re-read at least
//! every half second as a safety net, so an instance learns a switch within a second. Every
//! instance also probes Redis each second (past the breaker) and reports in Postgres how long
//! it has reached Redis without a failure. When the deployment is on Postgres and every live
//! instance has reached Redis for the recovery time, one instance rebuilds Redis and flips
//! the mode back (see [`crate::store::switch::Switch::rebuild_redis`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::state::AppState;
use crate::store::Mode;
use crate::store::postgres::mode::CHANNEL;

/// The safety net under `LISTEN`.
const RE_READ: Duration = Duration::from_millis(500);
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Instances not heard from for this long don't count (they stopped or crashed).
const ALIVE: Duration = Duration::from_secs(5);
/// Longest the rebuild waits for the old event streams to drain into Postgres.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// Follows the mode row for as long as the process runs.
pub async fn follow(state: Arc<AppState>) {
    loop {
        if let Err(error) = listen(&state).await {
            tracing::debug!(%error, "backend mode listener stopped; re-reading and reconnecting");
        }
        let _ = state.switch.refresh().await;
        tokio::time::sleep(RE_READ).await;
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = state.db.listen(CHANNEL).await?;
    loop {
        if let Ok(notification) = tokio::time::timeout(RE_READ, listener.recv()).await {
            notification?;
        }
        if let Err(error) = state.switch.refresh().await {
            tracing::debug!(%error, "cannot read the backend mode");
        }
    }
}

/// Probes Redis, reports this instance, and rebuilds Redis when the whole deployment can
/// reach it again (only where `rebuild` is true: instances that run the workers).
pub async fn recover(state: Arc<AppState>, rebuild: bool) {
    let instance = state.switch.instance().to_string();
    let steady = state.settings.workers.redis_recovery;
    let mut reachable_since: Option<Instant> = None;
    let mut every = tokio::time::interval(PROBE_EVERY);
    loop {
        every.tick().await;
        let probe = state.redis.probe().await;
        if let Err(error) = &probe {
            tracing::debug!(%error, "redis probe failed");
        }
        let reachable = probe.is_ok();
        reachable_since = if reachable { reachable_since.or(Some(Instant::now())) } else { None };
        let ok_for = reachable_since.map(|since| since.elapsed());
        if let Err(error) = state.db.heartbeat(&instance, ok_for).await {
            tracing::debug!(%error, "cannot report this instance");
            continue;
        }
        // The abuse limits are shared by the live instances (see `crate::limits`).
        if let Ok(live) = state.db.live_instances(ALIVE).await {
            state.limits.set_instances(u32::try_from(live).unwrap_or(u32::MAX));
        }
        let steady_here = ok_for.is_some_and(|d| d >= steady);
        if rebuild && steady_here && state.switch.mode() == Mode::Postgres {
            try_rebuild(&state, &instance, steady).await;
        }
    }
}

async fn try_rebuild(state: &AppState, consumer: &str, steady: Duration) {
    match state.db.all_instances_reach_redis(ALIVE, steady).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(error) => return tracing::debug!(%error, "cannot read the instances"),
    }
    if let Err(error) = state.switch.rebuild_redis(async || drain_streams(state, consumer).await).await {
        tracing::warn!(%error, "redis rebuild failed");
    }
}

/// Writes what the old event streams still hold to Postgres (joins, admissions, holds made
/// on Redis before the switch), until every stream is acknowledged or the limit passes.
async fn drain_streams(state: &AppState, consumer: &str) {
    let started = Instant::now();
    while started.elapsed() < DRAIN_LIMIT {
        let _ = super::write_behind::drain_all(state, consumer).await;
        let mut unacked = 0;
        for show in state.shows.get() {
            unacked += state.events.stats(show).await.map_or(0, |stats| stats.unacked);
        }
        if unacked == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("old event streams not drained in time; their places come back as tokens are presented");
}
