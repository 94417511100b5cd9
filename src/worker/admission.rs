//! The admission ticker: every tick, each show's admission once (see
//! [`crate::sale::Sale::admit`]). The store's token bucket (in Redis, refilled from Redis
//! time) makes the total rate the configured one however many instances tick.

use std::sync::Arc;

use futures::StreamExt;

use crate::state::AppState;

/// Shows ticked concurrently.
const CONCURRENCY: usize = 16;

pub async fn run(state: Arc<AppState>) {
    let state = &state;
    super::every(state.settings.workers.admission_tick, move || tick_all(state)).await;
}

/// One tick of every known show.
pub async fn tick_all(state: &AppState) {
    futures::stream::iter(state.sale.shows()).for_each_concurrent(CONCURRENCY, |show| state.sale.admit(show)).await;
}
