//! Write-behind: drains each show's event stream into Postgres.
//!
//! One instance at a time drains a show (a lease in Redis), so a show's events reach
//! Postgres in stream order. A round that found a full batch is followed at once by the
//! next; otherwise the worker waits a poll interval, so under steady load each transaction
//! carries a poll interval's worth of events (fewer commits and WAL flushes) rather than
//! whatever arrived in the last millisecond.
//!
//! Each round takes, in this order: entries it read before and could not write (Postgres was
//! down), entries a crashed consumer left pending (XAUTOCLAIM), then new entries. A batch is
//! written in one transaction, idempotently (the stream id is the primary key), then
//! acknowledged; the stream is then trimmed below its oldest unacknowledged entry. A crash
//! between write and ack only means the batch is written again, which changes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::ShowId;
use crate::state::AppState;
use crate::store::event::StreamEvent;
use crate::store::{Mode, StoreError};

/// Events (stream entries) per round; a join event carries up to a few hundred joins.
pub const BATCH: usize = 200;
const STATS_EVERY: Duration = Duration::from_secs(1);
const BACKOFF: Duration = Duration::from_secs(1);

pub async fn run(state: Arc<AppState>) {
    let consumer = state.switch.instance().to_string();
    let mut last_stats = Instant::now() - STATS_EVERY;
    loop {
        let round = drain_all(&state, &consumer).await;
        if last_stats.elapsed() >= STATS_EVERY {
            measure_lag(&state).await;
            last_stats = Instant::now();
        }
        match round {
            Ok(entries) if entries >= BATCH => tokio::task::yield_now().await,
            Ok(_) => tokio::time::sleep(state.settings.workers.write_behind_poll).await,
            Err(error) if state.switch.mode() == Mode::Redis => {
                tracing::warn!(%error, "write-behind round failed; retrying");
                tokio::time::sleep(BACKOFF).await;
            }
            // Serving from Postgres: the old streams are drained once Redis is back.
            Err(error) => {
                tracing::debug!(%error, "write-behind round failed; retrying");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// One batch from every show whose lease we hold; returns the most stream entries one show
/// had (0: nothing to do). A show that fails (its master frozen, say) doesn't hold up the
/// others; the round fails only when nothing could be written.
pub async fn drain_all(state: &AppState, consumer: &str) -> Result<usize, StoreError> {
    let (mut busiest, mut failure) = (0, None);
    for show in state.shows.get() {
        match drain_show(state, show, consumer).await {
            Ok(entries) => busiest = busiest.max(entries),
            Err(error) => {
                tracing::debug!(%show, %error, "write-behind of one show failed");
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) if busiest == 0 => Err(error),
        _ => Ok(busiest),
    }
}

/// Writes one batch of the show's events to Postgres; returns how many stream entries it
/// took (0 when there was nothing to do or another instance holds the show's lease).
#[tracing::instrument(skip(state))]
pub async fn drain_show(state: &AppState, show: ShowId, consumer: &str) -> Result<usize, StoreError> {
    if !state.events.lease(show, consumer, state.settings.workers.write_behind_lease).await? {
        return Ok(0);
    }
    let batch = match next_batch(state, show, consumer).await {
        Err(StoreError::Internal(e)) if e.to_string().contains("NOGROUP") => {
            state.events.ensure_group(show).await?;
            return Ok(0);
        }
        other => other?,
    };
    let redis_serves = state.switch.mode() == Mode::Redis;
    if batch.is_empty() {
        if !redis_serves {
            state.db.holds_handed_over(show).await?;
        }
        return Ok(0);
    }
    let written = state.db.record_events(show, &batch, redis_serves).await?;
    let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
    state.events.ack(show, &ids).await?;
    state.events.trim_acknowledged(show).await?;
    metrics::counter!("boxoffice_writebehind_events_written_total").increment(written);
    metrics::counter!("boxoffice_writebehind_events_acked_total").increment(ids.len() as u64);
    Ok(ids.len())
}

/// Pending entries first, oldest first, whoever read them last: holding the lease makes them
/// ours, and writing anything newer before them would break the show's order. (An earlier
/// holder that stalled rather than died may write the same entries too: the inserts are
/// idempotent and the two transactions serialise on the same rows.)
async fn next_batch(state: &AppState, show: ShowId, consumer: &str) -> Result<Vec<StreamEvent>, StoreError> {
    let pending = state.events.claim_pending(show, consumer, BATCH).await?;
    if !pending.is_empty() {
        metrics::counter!("boxoffice_writebehind_events_reclaimed_total").increment(pending.len() as u64);
        return Ok(pending);
    }
    state.events.new_entries(show, consumer, BATCH).await
}

async fn measure_lag(state: &AppState) {
    let (mut backlog, mut oldest) = (0, Duration::ZERO);
    for show in state.shows.get() {
        let Ok(stats) = state.events.stats(show).await else {
            continue;
        };
        let label = show.to_string();
        metrics::gauge!("boxoffice_writebehind_stream_length", "show" => label.clone()).set(stats.length as f64);
        metrics::gauge!("boxoffice_writebehind_unacked", "show" => label.clone()).set(stats.unacked as f64);
        metrics::gauge!("boxoffice_writebehind_oldest_unacked_seconds", "show" => label)
            .set(stats.oldest_unacked_age.as_secs_f64());
        backlog += stats.unacked;
        oldest = oldest.max(stats.oldest_unacked_age);
    }
    state.write_behind_lag.record(backlog, oldest);
}
