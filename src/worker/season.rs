//! Following the season: the registry of live shows and the sales that ended, each second
//! (see [`crate::sale::Sale::follow_season`] and [`crate::sale::Sale::follow_endings`]; with
//! `work`, ended shows are let go of), and each show's settings as Postgres announces a
//! change (every setting read again whenever the listener connects, for what it missed).

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

const FOLLOW_EVERY: Duration = Duration::from_secs(1);
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

pub async fn follow_live_shows(state: Arc<AppState>) {
    let sale = &state.sale;
    super::every(FOLLOW_EVERY, move || sale.follow_season()).await;
}

/// On a loop of its own: letting go of an ended show takes a few round trips.
pub async fn follow_endings(state: Arc<AppState>, work: bool) {
    let sale = &state.sale;
    super::every(FOLLOW_EVERY, move || sale.follow_endings(work)).await;
}

pub async fn follow_settings(state: Arc<AppState>) {
    loop {
        if let Err(error) = listen(&state).await {
            tracing::debug!(%error, "settings listener stopped; reconnecting");
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = state.sale.listen_to_show_changes().await?;
    state.sale.reload_settings().await;
    // `try_recv` says when the connection dropped (None), where `recv` would reconnect and
    // silently lose what was announced meanwhile.
    while let Some(notification) = listener.try_recv().await? {
        if let Ok(show) = notification.payload().parse() {
            state.sale.settings_changed(show).await;
        }
    }
    Ok(())
}
