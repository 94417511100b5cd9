//! Retention: deleting what a season leaves in Postgres once it has been kept long enough,
//! in batches of bounded size (each its own short statement, rows other instances are
//! deleting skipped), so a live sale's writes never wait long behind it. Queue history and
//! write-behind events go only for shows whose sale ended that long ago;
//! the sales themselves (reservations, sold seats) are never deleted here.

use std::time::Duration;

use sqlx::postgres::PgPoolCopyExt;

use super::Retention;
use crate::domain::ShowId;
use crate::store::StoreError;

/// What one table's retention deletes: rows older than `kept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Places (queue_entries), holes and the pre-queue of shows whose sale ended `kept` ago.
    QueueHistory,
    /// Write-behind events of shows whose sale ended `kept` ago.
    Events,
    /// Idempotency-Keys made `kept` ago (a retry comes within minutes, not days).
    IdempotencyKeys,
    /// Spent proof-of-work challenges expired `kept` ago.
    SpentChallenges,
}

impl Retention<'_> {
    /// Deletes up to `batch` rows of what expired; returns how many went.
    pub async fn delete_batch(&self, what: Expired, kept: Duration, batch: i64) -> Result<u64, StoreError> {
        let kept = kept.as_secs_f64();
        let query = match what {
            Expired::QueueHistory => return self.delete_queue_history(kept, batch).await,
            Expired::Events => sqlx::query!(
                "WITH gone AS (SELECT show_id FROM queue_configs WHERE ends_at < now() - make_interval(secs => $1)),
                      doomed AS (SELECT e.ctid FROM write_behind_events e JOIN gone USING (show_id) LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM write_behind_events WHERE ctid IN (SELECT ctid FROM doomed)",
                kept,
                batch
            ),
            Expired::IdempotencyKeys => sqlx::query!(
                "WITH doomed AS (SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
                                 LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM doomed)",
                kept,
                batch
            ),
            Expired::SpentChallenges => sqlx::query!(
                "WITH doomed AS (SELECT ctid FROM pow_spent WHERE expires_at < now() - make_interval(secs => $1)
                                 LIMIT $2 FOR UPDATE SKIP LOCKED)
                 DELETE FROM pow_spent WHERE ctid IN (SELECT ctid FROM doomed)",
                kept,
                batch
            ),
        };
        Ok(self.timed(query.execute(&self.pool)).await?.rows_affected())
    }

    /// A batch of each of the places, holes and pre-queue of shows whose sale ended `kept` ago.
    async fn delete_queue_history(&self, kept: f64, batch: i64) -> Result<u64, StoreError> {
        let places = sqlx::query!(
            "WITH gone AS (SELECT show_id FROM queue_configs WHERE ends_at < now() - make_interval(secs => $1)),
                  doomed AS (SELECT e.ctid FROM queue_entries e JOIN gone USING (show_id) LIMIT $2 FOR UPDATE SKIP LOCKED)
             DELETE FROM queue_entries WHERE ctid IN (SELECT ctid FROM doomed)",
            kept,
            batch
        );
        let pre_queue = sqlx::query!(
            "WITH gone AS (SELECT show_id FROM queue_configs WHERE ends_at < now() - make_interval(secs => $1)),
                  doomed AS (SELECT p.ctid FROM pre_queue p JOIN gone USING (show_id) LIMIT $2 FOR UPDATE SKIP LOCKED)
             DELETE FROM pre_queue WHERE ctid IN (SELECT ctid FROM doomed)",
            kept,
            batch
        );
        let holes = sqlx::query!(
            "WITH gone AS (SELECT show_id FROM queue_configs WHERE ends_at < now() - make_interval(secs => $1)),
                  doomed AS (SELECT h.ctid FROM queue_holes h JOIN gone USING (show_id) LIMIT $2 FOR UPDATE SKIP LOCKED)
             DELETE FROM queue_holes WHERE ctid IN (SELECT ctid FROM doomed)",
            kept,
            batch
        );
        let mut deleted = 0;
        for query in [places, pre_queue, holes] {
            deleted += self.timed(query.execute(&self.pool)).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// A show's history as CSV (a header, then one row per place in seq order), streamed
    /// out of Postgres into `out`; returns the bytes written.
    pub async fn export_history(
        &self,
        show: ShowId,
        out: &mut (impl std::io::Write + Send),
    ) -> Result<u64, StoreError> {
        use futures::TryStreamExt;
        // COPY takes no bind parameters: the show id is an integer, formatted in.
        let copy = format!(
            "COPY (SELECT show_id, seq, user_id, joined_at, admitted_at, claimed_at, left_at, expired_at, confirmed_at
                   FROM queue_entries WHERE show_id = {} ORDER BY seq) TO STDOUT WITH (FORMAT csv, HEADER)",
            show.0
        );
        let mut stream = self.pool.copy_out_raw(&copy).await?;
        let mut written = 0;
        while let Some(chunk) = stream.try_next().await? {
            out.write_all(&chunk).map_err(|e| StoreError::Internal(e.into()))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }
}
