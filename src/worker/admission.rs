//! The admission ticker. Each tick runs the admission script once per show; the script's
//! token bucket (in Redis, refilled from Redis time) makes the total rate the configured
//! one however many instances tick.

use std::sync::Arc;

use futures::StreamExt;
use tokio::time::MissedTickBehavior;

use crate::domain::ShowId;
use crate::state::AppState;

/// Most users one script call admits; keeps each call short.
pub const MAX_BATCH: u32 = 1000;
/// Shows ticked concurrently.
const CONCURRENCY: usize = 16;

pub async fn run(state: Arc<AppState>) {
    let mut every = tokio::time::interval(state.settings.workers.admission_tick);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        tick_all(&state).await;
    }
}

/// One tick of every known show.
pub async fn tick_all(state: &AppState) {
    futures::stream::iter(state.shows.get()).for_each_concurrent(CONCURRENCY, |show| tick(state, show)).await;
}

async fn tick(state: &AppState, show: ShowId) {
    super::opening::tick(state, show).await;
    match state.queue.admit(show, MAX_BATCH).await {
        Ok(tick) => {
            state.cursors.observe(show, tick.cursor);
            if let Err(error) = state.sync_holes(show, tick.holes_total).await {
                tracing::debug!(%error, %show, "cannot reload the show's holes");
            }
            metrics::counter!("boxoffice_admitted_total").increment(tick.admitted);
            metrics::counter!("boxoffice_sessions_expired_total").increment(tick.expired);
        }
        Err(error) => tracing::debug!(%error, %show, "admission tick failed"),
    }
}
