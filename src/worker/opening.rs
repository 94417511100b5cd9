//! Fair openings: at a show's `opens_at` its pre-queue is closed (its users' seqs are kept
//! ahead of everyone who joins later) and drawn into those seqs in HMAC order (see
//! `domain::fairness`). Every instance's admission ticker looks; a lease in Postgres lets
//! one instance draw, and another take over if it dies mid-way (each step is idempotent).

use std::time::{Duration, Instant};

use crate::domain::ShowId;
use crate::domain::fairness;
use crate::state::AppState;
use crate::store::StoreError;

/// How long one instance may take to draw before another takes over.
const DRAW_LEASE: Duration = Duration::from_secs(30);

/// Closes and draws the show's pre-queue once its opening has come.
pub async fn tick(state: &AppState, show: ShowId) {
    if state.openings.is_drawn(show) {
        return;
    }
    if let Err(error) = open_if_due(state, show).await {
        tracing::warn!(%error, %show, "the fair opening could not go on yet");
    }
}

async fn open_if_due(state: &AppState, show: ShowId) -> Result<(), StoreError> {
    let Some(opens_at) = state.queue_configs.get(&state.db, show).await?.and_then(|config| config.opens_at) else {
        return Ok(());
    };
    if state.redis.clock.estimate_ms() < opens_at.timestamp_millis() {
        return Ok(());
    }
    if !state.close_pre_queue(show).await? {
        return Ok(());
    }
    draw(state, show).await?;
    if state.db.fairness(show).await?.is_some_and(|row| row.drawn_at.is_some()) {
        state.openings.mark_drawn(show);
    }
    Ok(())
}

/// Draws the pre-queue, if this instance gets to.
async fn draw(state: &AppState, show: ShowId) -> Result<(), StoreError> {
    let started = Instant::now();
    let Some((row, users)) = state.db.claim_draw(show, DRAW_LEASE).await? else { return Ok(()) };
    let fetched = started.elapsed();
    let base = row.draw_base.unwrap_or_default();
    let seed = row.seed.clone();
    // Half a million HMACs and a sort: a blocking thread's work, not an async worker's.
    let drawn = tokio::task::spawn_blocking(move || fairness::draw(&seed, &users))
        .await
        .map_err(|error| StoreError::Internal(anyhow::anyhow!("the draw did not finish: {error}")))?;
    let ordered = started.elapsed();
    let order: Vec<uuid::Uuid> = drawn.iter().map(|place| place.user).collect();
    state.queue.place_drawn(show, base, &order).await?;
    let (placed, placed_at) = (started.elapsed(), chrono::Utc::now());
    // The places are taken (admission goes on); the entries are recorded before the seed is
    // revealed, since a draw marked done is not drawn again.
    state.db.record_draw(show, base, &drawn).await?;
    state.db.finish_draw(show).await?;
    state.openings.mark_drawn(show);
    metrics::histogram!("boxoffice_draw_seconds").record(placed.as_secs_f64());
    let paused = row.closed_at.map(|closed| (placed_at - closed).num_milliseconds());
    tracing::info!(
        %show,
        drawn = order.len(),
        fetched_ms = fetched.as_millis() as u64,
        ordered_ms = (ordered - fetched).as_millis() as u64,
        placed_ms = placed.as_millis() as u64,
        admission_waited_ms = paused,
        "pre-queue drawn"
    );
    Ok(())
}
