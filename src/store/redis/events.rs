//! The Redis side of write-behind: each show's state changes sit in its stream
//! (`<prefix>:{s<id>}:ev`, and a laned show's joins in each lane's, see `lanes`) until a
//! consumer of the group `wb` has written them to Postgres and acknowledged them. A stream
//! is trimmed only below its oldest unacknowledged entry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use uuid::Uuid;

use super::keys::ShowKeys;
use super::{Redis, scripts};
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::event::EventKind;
pub use crate::store::event::StreamEvent;

pub const GROUP: &str = "wb";

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamStats {
    pub length: u64,
    /// Entries not yet acknowledged: delivered and pending, or never delivered.
    pub unacked: u64,
    pub oldest_unacked_age: Duration,
}

/// One event stream: a show's own (lane 0), or one of its lanes' (1 on).
#[derive(Debug, Clone)]
pub struct Stream {
    pub show: ShowId,
    pub lane: u16,
    keys: ShowKeys,
}

impl Stream {
    pub fn keys(&self) -> &ShowKeys {
        &self.keys
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.show, self.lane)
    }
}

pub struct EventStream {
    redis: Arc<Redis>,
}

impl EventStream {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }

    /// The show's own stream.
    pub fn home(&self, show: ShowId) -> Stream {
        Stream { show, lane: 0, keys: self.redis.keys.show(show) }
    }

    /// The show's streams: its own, then its lanes', as its config hash names them.
    pub async fn streams(&self, show: ShowId) -> Result<Vec<Stream>, StoreError> {
        let home = self.home(show);
        let tags: Option<String> = self.redis.query(redis::Cmd::hget(home.keys.config(), "lane_tags")).await?;
        let lanes = tags.iter().flat_map(|tags| tags.split(',')).map(|tag| self.redis.keys.lane(tag));
        let lanes = lanes.enumerate().map(|(k, keys)| Stream { show, lane: k as u16 + 1, keys });
        Ok(std::iter::once(home).chain(lanes).collect())
    }

    /// Creates the consumer group (and the stream) if missing.
    pub async fn ensure_group(&self, stream: &Stream) -> Result<(), StoreError> {
        ensure_group(&self.redis, &stream.keys).await
    }

    /// Takes or renews this consumer's lease on the stream.
    pub async fn lease(&self, stream: &Stream, consumer: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut call = scripts::LEASE.prepare_invoke();
        call.key(stream.keys.lease()).arg(consumer).arg(ttl.as_millis() as u64);
        Ok(self.redis.invoke::<i64>(call).await? == 1)
    }

    /// Entries never delivered to anyone.
    pub async fn new_entries(
        &self,
        stream: &Stream,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(count).arg("STREAMS");
        cmd.arg(stream.keys.events()).arg(">");
        let reply: Option<StreamReadReply> = self.redis.query(cmd).await?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
        self.parsed(stream, entries).await
    }

    /// The entries as events. An entry trimmed away while pending comes back without
    /// fields and is skipped; one of a kind this version doesn't know (a newer version's
    /// script) means nothing here: it is acknowledged and logged, so it doesn't stay
    /// pending forever.
    async fn parsed(
        &self,
        stream: &Stream,
        entries: impl Iterator<Item = StreamId>,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let (mut events, mut unknown) = (Vec::new(), Vec::new());
        for entry in entries {
            match parse_entry(entry) {
                Parsed::Event(event) => events.push(event),
                Parsed::UnknownKind(id, kind) => {
                    tracing::warn!(%stream, id, kind, "skipping a stream entry of an unknown kind");
                    unknown.push(id);
                }
                Parsed::Trimmed => {}
            }
        }
        self.ack(stream, &unknown).await?;
        Ok(events)
    }

    /// Takes over the oldest entries delivered and not acknowledged, at any consumer (this
    /// one after a failed write, or a crashed or stalled one).
    pub async fn claim_pending(
        &self,
        stream: &Stream,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(stream.keys.events()).arg(GROUP).arg(consumer).arg(0).arg("0-0").arg("COUNT").arg(count);
        let reply: StreamAutoClaimReply = self.redis.query(cmd).await?;
        self.parsed(stream, reply.claimed.into_iter()).await
    }

    pub async fn ack(&self, stream: &Stream, ids: &[String]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(stream.keys.events()).arg(GROUP).arg(ids);
        self.redis.query(cmd).await
    }

    /// Trims entries below the oldest unacknowledged one; returns how many went.
    pub async fn trim_acknowledged(&self, stream: &Stream) -> Result<u64, StoreError> {
        let mut call = scripts::TRIM_ACKED.prepare_invoke();
        call.key(stream.keys.events()).arg(GROUP);
        self.redis.invoke(call).await
    }

    pub async fn stats(&self, stream: &Stream) -> Result<StreamStats, StoreError> {
        let mut call = scripts::STREAM_STATS.prepare_invoke();
        call.key(stream.keys.events()).arg(GROUP);
        let (length, unacked, age_ms): (u64, u64, u64) = self.redis.invoke(call).await?;
        Ok(StreamStats { length, unacked, oldest_unacked_age: Duration::from_millis(age_ms) })
    }
}

/// Creates a stream's consumer group (and the stream) if missing.
pub(super) async fn ensure_group(redis: &Redis, keys: &ShowKeys) -> Result<(), StoreError> {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE").arg(keys.events()).arg(GROUP).arg("0").arg("MKSTREAM");
    match redis.query::<()>(cmd).await {
        Err(StoreError::StreamGroupExists) => Ok(()),
        other => other,
    }
}

enum Parsed {
    Event(StreamEvent),
    UnknownKind(String, String),
    Trimmed,
}

/// User ids are 16 raw bytes each, one after another.
fn parse_entry(entry: StreamId) -> Parsed {
    let map = entry.map;
    let Some(wire) = text(&map, "k") else { return Parsed::Trimmed };
    let Some(kind) = EventKind::parse(&wire) else { return Parsed::UnknownKind(entry.id, wire) };
    Parsed::Event(StreamEvent {
        kind,
        users: bytes(&map, "u").unwrap_or_default().chunks(16).filter_map(|id| Uuid::from_slice(id).ok()).collect(),
        seq: number(&map, "q").filter(|q| *q > 0),
        seats: text(&map, "s").map(|s| s.split(',').filter_map(|seat| seat.parse().ok()).collect()).unwrap_or_default(),
        until_ms: number(&map, "x").filter(|x| *x > 0),
        id: entry.id,
    })
}

fn bytes(map: &HashMap<String, Value>, field: &str) -> Option<Vec<u8>> {
    match map.get(field)? {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn text(map: &HashMap<String, Value>, field: &str) -> Option<String> {
    bytes(map, field).and_then(|b| String::from_utf8(b).ok())
}

fn number(map: &HashMap<String, Value>, field: &str) -> Option<i64> {
    text(map, field)?.parse::<f64>().ok().map(|n| n as i64)
}
