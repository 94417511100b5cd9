//! Retention: what a season leaves in Postgres goes once kept as long as configured (see
//! [`crate::store::postgres::retention`]), batch by batch with a breather between batches,
//! so a live sale's writes never queue long behind it; and a show's history as CSV, for an
//! operator to keep before it goes.

use std::time::Duration;

use super::Sale;
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::postgres::retention::Expired;

/// Rows one statement deletes at most.
const BATCH: i64 = 5_000;
/// The pause between two batches.
const BREATHER: Duration = Duration::from_millis(50);
/// Batches of one kind a run deletes at most; the rest waits for the next run.
const MOST_BATCHES: usize = 200;

impl Sale {
    /// Deletes what has been kept long enough; returns how many rows went, per kind.
    pub async fn apply_retention(&self) -> Vec<(Expired, u64)> {
        let kept = &self.settings.retention;
        let kinds = [
            (Expired::QueueHistory, kept.queue_history),
            (Expired::Events, kept.events),
            (Expired::IdempotencyKeys, kept.idempotency_keys),
            (Expired::SpentChallenges, kept.spent_challenges),
        ];
        let mut report = Vec::new();
        for (what, kept) in kinds {
            report.push((what, self.delete_expired(what, kept).await));
        }
        report
    }

    async fn delete_expired(&self, what: Expired, kept: Duration) -> u64 {
        let mut deleted = 0;
        for _ in 0..MOST_BATCHES {
            match self.db.retention().delete_batch(what, kept, BATCH).await {
                Ok(rows) => {
                    deleted += rows;
                    if rows < BATCH as u64 {
                        break;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, ?what, "retention stopped for now");
                    break;
                }
            }
            tokio::time::sleep(BREATHER).await;
        }
        if deleted > 0 {
            tracing::info!(?what, deleted, "retention deleted what was kept long enough");
        }
        deleted
    }

    /// Writes the show's history (every place, in seq order) as CSV to `out`.
    pub async fn export_history(
        &self,
        show: ShowId,
        out: &mut (impl std::io::Write + Send),
    ) -> Result<u64, StoreError> {
        self.db.retention().export_history(show, out).await
    }
}
