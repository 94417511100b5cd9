//! The durable record: each show's event stream written behind into Postgres.
//!
//! One instance at a time drains a show (a lease in Redis), so a show's events reach
//! Postgres in stream order. Each round takes, in this order: entries it read before and
//! could not write (Postgres was down), entries a crashed consumer left pending
//! (XAUTOCLAIM), then new entries. A batch is written in one transaction, idempotently (the
//! stream id is the primary key), then acknowledged; the stream is then trimmed below its
//! oldest unacknowledged entry. A crash between write and ack only means the batch is
//! written again, which changes nothing.

use std::time::Duration;

use super::Sale;
use crate::cache::LagSnapshot;
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::event::StreamEvent;

/// Events (stream entries) per round; a join event carries up to a few hundred joins.
pub const BATCH: usize = 200;

impl Sale {
    /// One batch from every show whose lease this consumer holds; returns the most stream
    /// entries one show had (0: nothing to do). A show that fails (its master frozen, say)
    /// doesn't hold up the others; the round fails only when nothing could be written.
    pub async fn write_behind(&self, consumer: &str) -> Result<usize, StoreError> {
        let (mut busiest, mut failure) = (0, None);
        for show in self.shows.ids() {
            match self.write_behind_show(show, consumer).await {
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
    #[tracing::instrument(skip(self))]
    async fn write_behind_show(&self, show: ShowId, consumer: &str) -> Result<usize, StoreError> {
        if !self.events.lease(show, consumer, self.settings.workers.write_behind_lease).await? {
            return Ok(0);
        }
        let batch = match self.next_batch(show, consumer).await {
            Err(StoreError::NoStreamGroup) => {
                self.events.ensure_group(show).await?;
                return Ok(0);
            }
            other => other?,
        };
        if batch.is_empty() {
            self.backend.stream_drained(show).await?;
            return Ok(0);
        }
        let written = self.backend.record_events(show, &batch).await?;
        let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
        self.events.ack(show, &ids).await?;
        self.events.trim_acknowledged(show).await?;
        metrics::counter!("boxoffice_writebehind_events_written_total").increment(written);
        metrics::counter!("boxoffice_writebehind_events_acked_total").increment(ids.len() as u64);
        Ok(ids.len())
    }

    /// Pending entries first, oldest first, whoever read them last: holding the lease makes
    /// them ours, and writing anything newer before them would break the show's order. (An
    /// earlier holder that stalled rather than died may write the same entries too: the
    /// inserts are idempotent and the two transactions serialise on the same rows.)
    async fn next_batch(&self, show: ShowId, consumer: &str) -> Result<Vec<StreamEvent>, StoreError> {
        let pending = self.events.claim_pending(show, consumer, BATCH).await?;
        if !pending.is_empty() {
            metrics::counter!("boxoffice_writebehind_events_reclaimed_total").increment(pending.len() as u64);
            return Ok(pending);
        }
        self.events.new_entries(show, consumer, BATCH).await
    }

    /// Measures every show's stream: the metrics, and the backlog `/readyz` reports.
    pub async fn measure_write_behind(&self) {
        let (mut backlog, mut oldest) = (0, Duration::ZERO);
        for show in self.shows.ids() {
            let Ok(stats) = self.events.stats(show).await else {
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
        self.write_behind_lag.record(backlog, oldest);
    }

    /// The write-behind backlog as last measured.
    pub fn write_behind_lag(&self) -> LagSnapshot {
        self.write_behind_lag.snapshot()
    }

    /// Entries of every show's stream not yet written to Postgres.
    pub async fn unwritten(&self) -> u64 {
        let mut unacked = 0;
        for show in self.shows.ids() {
            unacked += self.events.stats(show).await.map_or(0, |stats| stats.unacked);
        }
        unacked
    }

    /// The consumer name of this instance's write-behind.
    pub fn instance(&self) -> &str {
        self.backend.instance()
    }
}
