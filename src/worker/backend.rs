//! Following the deployment's backend, and bringing it back to Redis (see
//! [`crate::sale::Sale::rebuild_if_due`]): the mode row is re-read on each `NOTIFY` and at
//! least every half second; Redis is probed each second and this instance reported.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

/// The safety net under `LISTEN`.
const RE_READ: Duration = Duration::from_millis(500);
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Follows the mode row for as long as the process runs.
pub async fn follow(state: Arc<AppState>) {
    loop {
        if let Err(error) = listen(&state).await {
            tracing::debug!(%error, "backend mode listener stopped; re-reading and reconnecting");
        }
        state.sale.follow_deployment().await;
        tokio::time::sleep(RE_READ).await;
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = state.sale.listen_for_switches().await?;
    loop {
        if let Ok(notification) = tokio::time::timeout(RE_READ, listener.recv()).await {
            notification?;
        }
        state.sale.follow_deployment().await;
    }
}

/// Probes Redis, reports this instance, and rebuilds Redis when the whole deployment can
/// reach it again (only where `rebuild` is true: instances that run the workers).
pub async fn recover(state: Arc<AppState>, rebuild: bool) {
    let steady = state.settings.workers.redis_recovery;
    let mut reachable_since = None;
    let mut every = tokio::time::interval(PROBE_EVERY);
    loop {
        every.tick().await;
        let ok_for = match state.sale.report_instance(&mut reachable_since).await {
            Ok(ok_for) => ok_for,
            Err(error) => {
                tracing::debug!(%error, "cannot report this instance");
                continue;
            }
        };
        // The abuse limits are shared by the live instances (see `crate::limits`).
        if let Some(live) = state.sale.live_instances().await {
            state.limits.set_instances(live);
        }
        if rebuild && ok_for.is_some_and(|d| d >= steady) {
            state.sale.rebuild_if_due(steady).await;
        }
    }
}
