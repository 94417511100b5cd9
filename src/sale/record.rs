//! The durable record: each show's event stream written behind into Postgres.
//!
//! One instance at a time drains a stream (a lease in Redis), so a stream's events reach
//! Postgres in stream order. A laned show has a stream per lane besides its own, each
//! drained on its own: an admission (home's stream) may reach Postgres before the join it
//! admits (a lane's), which Postgres takes (see `store::postgres::events`). Each round
//! takes, in this order: entries it read before and could not write (Postgres was down),
//! entries a crashed consumer left pending (XAUTOCLAIM), then new entries. A batch is
//! written in one transaction, idempotently (the stream id is the primary key), then
//! acknowledged; the stream is then trimmed below its oldest unacknowledged entry. A crash
//! between write and ack only means the batch is written again, which changes nothing.

use std::time::Duration;

use super::Sale;
use crate::cache::LagSnapshot;
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::event::StreamEvent;
use crate::store::redis::events::{Stream, StreamStats};

/// Events (stream entries) per round; a join event carries up to a few hundred joins.
pub const BATCH: usize = 200;

impl Sale {
    /// One batch from every show whose lease this consumer holds; returns the most stream
    /// entries one show had (0: nothing to do). A show that fails (its master frozen, say)
    /// doesn't hold up the others; the round fails only when nothing could be written.
    pub async fn write_behind(&self, consumer: &str) -> Result<usize, StoreError> {
        let mut rounds = Vec::new();
        for show in self.shows() {
            let round = self.write_behind_show(show, consumer).await;
            match &round {
                Ok(entries) => self.live.streams_read(show, *entries == 0),
                Err(error) => {
                    self.live.streams_read(show, false);
                    tracing::debug!(%show, %error, "write-behind of one show failed");
                }
            }
            rounds.push(round);
        }
        busiest(rounds)
    }

    /// Writes one batch of each of the show's streams to Postgres; returns the most stream
    /// entries one stream had (0 when there was nothing to do or other instances hold the
    /// leases). A lane whose master fails doesn't hold up the show's other streams.
    async fn write_behind_show(&self, show: ShowId, consumer: &str) -> Result<usize, StoreError> {
        let mut rounds = Vec::new();
        for stream in self.events.streams(show).await? {
            rounds.push(self.write_behind_stream(&stream, consumer).await);
        }
        busiest(rounds)
    }

    #[tracing::instrument(skip(self), fields(%stream))]
    async fn write_behind_stream(&self, stream: &Stream, consumer: &str) -> Result<usize, StoreError> {
        if !self.events.lease(stream, consumer, self.settings.workers.write_behind_lease).await? {
            return Ok(0);
        }
        let batch = match self.next_batch(stream, consumer).await {
            // A stream nothing was written to yet: drained.
            Err(StoreError::NoStreamGroup) => {
                self.events.ensure_group(stream).await?;
                Vec::new()
            }
            other => other?,
        };
        if batch.is_empty() {
            if stream.lane == 0 {
                self.backend.stream_drained(stream.show).await?;
            }
            return Ok(0);
        }
        let written = self.backend.record_events(stream, &batch).await?;
        let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
        self.events.ack(stream, &ids).await?;
        self.events.trim_acknowledged(stream).await?;
        metrics::counter!("boxoffice_writebehind_events_written_total").increment(written);
        metrics::counter!("boxoffice_writebehind_events_acked_total").increment(ids.len() as u64);
        Ok(ids.len())
    }

    /// Pending entries first, oldest first, whoever read them last: holding the lease makes
    /// them ours, and writing anything newer before them would break the show's order. (An
    /// earlier holder that stalled rather than died may write the same entries too: the
    /// inserts are idempotent and the two transactions serialise on the same rows.)
    async fn next_batch(&self, stream: &Stream, consumer: &str) -> Result<Vec<StreamEvent>, StoreError> {
        let pending = self.events.claim_pending(stream, consumer, BATCH).await?;
        if !pending.is_empty() {
            metrics::counter!("boxoffice_writebehind_events_reclaimed_total").increment(pending.len() as u64);
            return Ok(pending);
        }
        self.events.new_entries(stream, consumer, BATCH).await
    }

    /// Measures every show's stream: the metrics, and the backlog `/readyz` reports.
    pub async fn measure_write_behind(&self) {
        let (mut backlog, mut oldest) = (0, Duration::ZERO);
        for (show, stats) in self.stream_stats().await {
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

    /// Entries of every show's streams not yet written to Postgres.
    pub async fn unwritten(&self) -> u64 {
        self.stream_stats().await.iter().map(|(_, stats)| stats.unacked).sum()
    }

    /// Each live show's streams measured together (what could be read).
    async fn stream_stats(&self) -> Vec<(ShowId, StreamStats)> {
        let mut measured = Vec::new();
        for show in self.shows() {
            if let Ok(stats) = self.show_stream_stats(show).await {
                measured.push((show, stats));
            }
        }
        measured
    }

    /// The show's streams measured together.
    pub(super) async fn show_stream_stats(&self, show: ShowId) -> Result<StreamStats, StoreError> {
        let mut total = StreamStats::default();
        for stream in &self.events.streams(show).await? {
            let stats = self.events.stats(stream).await?;
            total.length += stats.length;
            total.unacked += stats.unacked;
            total.oldest_unacked_age = total.oldest_unacked_age.max(stats.oldest_unacked_age);
        }
        Ok(total)
    }

    /// The consumer name of this instance's write-behind.
    pub fn instance(&self) -> &str {
        self.backend.instance()
    }
}

/// The most entries one round took; the first failure when no round wrote anything.
fn busiest(rounds: Vec<Result<usize, StoreError>>) -> Result<usize, StoreError> {
    let (mut busiest, mut failure) = (0, None);
    for round in rounds {
        match round {
            Ok(entries) => busiest = busiest.max(entries),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) if busiest == 0 => Err(error),
        _ => Ok(busiest),
    }
}
