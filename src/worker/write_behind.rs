//! The write-behind consumer: drains each show's event stream into Postgres (see
//! [`crate::sale::Sale::write_behind`]). A round that found a full batch is followed at once
//! by the next; otherwise the worker waits a poll interval, so under steady load each
//! transaction carries a poll interval's worth of events (fewer commits and WAL flushes)
//! rather than whatever arrived in the last millisecond.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::sale::WRITE_BEHIND_BATCH;
use crate::state::AppState;

const STATS_EVERY: Duration = Duration::from_secs(1);
const BACKOFF: Duration = Duration::from_secs(1);

pub async fn run(state: Arc<AppState>) {
    let sale = &state.sale;
    let mut last_stats = Instant::now() - STATS_EVERY;
    loop {
        let round = sale.write_behind(sale.instance()).await;
        if last_stats.elapsed() >= STATS_EVERY {
            sale.measure_write_behind().await;
            last_stats = Instant::now();
        }
        match round {
            Ok(entries) if entries >= WRITE_BEHIND_BATCH => tokio::task::yield_now().await,
            Ok(_) => tokio::time::sleep(state.settings.workers.write_behind_poll).await,
            // Serving from Postgres: the old streams are drained once Redis is back.
            Err(error) if sale.backend().write_behind_failure_expected() => {
                tracing::debug!(%error, "write-behind round failed; retrying");
                tokio::time::sleep(BACKOFF).await;
            }
            Err(error) => {
                tracing::warn!(%error, "write-behind round failed; retrying");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}
