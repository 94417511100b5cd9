//! Listens to the cursor channel, so every instance learns of each admission within
//! milliseconds. A lost message costs at most one admission tick of staleness, since every
//! tick also returns the cursor. A subscription that ends (the node failed over, or Redis
//! killed it: `CLIENT KILL TYPE pubsub`, the output buffer limit) is made again, and every
//! show's cursor is read once to make up for what was missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::domain::ShowId;
use crate::state::AppState;

/// How often a quiet subscription is pinged to tell a dead connection from a quiet one.
const PING_EVERY: Duration = Duration::from_secs(5);

pub async fn run(state: Arc<AppState>) {
    for attempt in 0usize.. {
        if let Err(error) = listen(&state, attempt).await {
            tracing::debug!(%error, "cursor subscription ended; reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen(state: &AppState, attempt: usize) -> anyhow::Result<()> {
    let timeout = state.redis.settings().timeout;
    let client = state.redis.pubsub_client(attempt)?;
    let pubsub = tokio::time::timeout(timeout, client.get_async_pubsub()).await??;
    let (mut sink, mut messages) = pubsub.split();
    tokio::time::timeout(timeout, sink.subscribe(state.redis.keys.cursor_channel())).await??;
    if attempt > 0 {
        metrics::counter!("boxoffice_pubsub_resubscribes_total").increment(1);
    }
    resync(state).await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { anyhow::bail!("subscription closed") };
                if let Some((show, cursor)) = parse(&message.get_payload::<String>()?) {
                    state.cursors.observe(show, cursor);
                }
            }
            () = tokio::time::sleep(PING_EVERY) => {
                tokio::time::timeout(timeout, sink.ping::<String>()).await??;
            }
        }
    }
}

async fn resync(state: &AppState) {
    for show in state.shows.get() {
        match state.queue.cursor(show).await {
            Ok(cursor) => state.cursors.observe(show, cursor),
            Err(error) => tracing::debug!(%error, %show, "cannot resync the cursor"),
        }
    }
}

/// `<show>:<cursor>`
fn parse(payload: &str) -> Option<(ShowId, i64)> {
    let (show, cursor) = payload.split_once(':')?;
    Some((show.parse().ok()?, cursor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursor_messages_are_show_colon_cursor() {
        assert_eq!(super::parse("42:1000"), Some((crate::domain::ShowId(42), 1000)));
        assert_eq!(super::parse("42"), None);
        assert_eq!(super::parse("x:1"), None);
    }
}
