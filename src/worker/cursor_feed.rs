//! Listens to the cursor channel, so every instance learns of each admission within
//! milliseconds. A lost message costs at most one admission tick of staleness, since every
//! tick also returns the cursor. A subscription that ends (the node failed over, or Redis
//! killed it: `CLIENT KILL TYPE pubsub`, the output buffer limit) is made again, and every
//! show's cursor is read once to make up for what was missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

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
    let (client, channel, timeout) = state.sale.cursor_channel(attempt)?;
    let pubsub = tokio::time::timeout(timeout, client.get_async_pubsub()).await??;
    let (mut sink, mut messages) = pubsub.split();
    tokio::time::timeout(timeout, sink.subscribe(channel)).await??;
    if attempt > 0 {
        metrics::counter!("boxoffice_pubsub_resubscribes_total").increment(1);
    }
    state.sale.resync_cursors().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { anyhow::bail!("subscription closed") };
                state.sale.cursor_heard(&message.get_payload::<String>()?);
            }
            () = tokio::time::sleep(PING_EVERY) => {
                tokio::time::timeout(timeout, sink.ping::<String>()).await??;
            }
        }
    }
}
