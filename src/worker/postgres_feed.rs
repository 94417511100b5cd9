//! Pushes while the deployment serves from Postgres, which has no cursor broadcast and no
//! seat channels: the cursors of shows that clients stream here are read a few times a
//! second, and each change to a show's holds or sales (a trigger's `NOTIFY`, payload the
//! show id) marks the show's seat board stale, so `worker::seat_feed` resyncs it within its
//! next look.

use std::sync::Arc;
use std::time::Duration;

use crate::sale::Feeds;
use crate::state::AppState;

/// How often a streamed show's cursor is read from Postgres.
const CURSOR_EVERY: Duration = Duration::from_millis(250);

pub async fn follow_cursors(state: Arc<AppState>) {
    let sale = &state.sale;
    super::every(CURSOR_EVERY, move || sale.read_watched_cursors()).await;
}

pub async fn follow_seats(state: Arc<AppState>) {
    loop {
        if let Err(error) = listen(&state).await {
            tracing::debug!(%error, "seat notifications stopped; reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = state.sale.listen_to_seat_changes().await?;
    // Whatever changed while nobody listened is read again.
    state.push.seats.all().iter().for_each(|board| board.mark_stale());
    loop {
        let notification = listener.recv().await?;
        if state.sale.feeds() != Feeds::Postgres {
            continue;
        }
        if let Some(board) = notification.payload().parse().ok().and_then(|show| state.push.seats.get(show)) {
            board.mark_stale();
        }
    }
}
