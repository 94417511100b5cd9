//! The `text/event-stream` wire format, and the bound on open streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::web::Bytes;
use serde::Serialize;

/// One event: `event:`, `id:` and a one-line JSON `data:`.
pub fn event(kind: &str, id: u64, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_string());
    metrics::counter!("boxoffice_sse_events_total", "event" => kind.to_string()).increment(1);
    Bytes::from(format!("event: {kind}\nid: {id}\ndata: {json}\n\n"))
}

pub fn keep_alive() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// `Last-Event-ID` as these streams write ids: a decimal number. Anything else is garbage.
pub fn parse_event_id(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The kinds of stream, as the metrics label them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Queue,
    Seats,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Seats => "seats",
        }
    }
}

/// How many streams this instance keeps open at most; past it new ones are shed.
pub struct StreamLimit {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl StreamLimit {
    pub fn new(max: usize) -> Self {
        Self { open: Arc::default(), max }
    }

    /// A slot for one more stream, or `None` when the instance is full.
    pub fn open(&self, kind: StreamKind) -> Option<StreamGuard> {
        let admitted = self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1));
        if admitted.is_err() {
            metrics::counter!("boxoffice_sse_shed_total", "stream" => kind.as_str()).increment(1);
            return None;
        }
        metrics::gauge!("boxoffice_sse_streams", "stream" => kind.as_str()).increment(1.0);
        Some(StreamGuard { open: self.open.clone(), kind })
    }

    pub fn open_now(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Holds a stream's slot; dropped when the client goes.
pub struct StreamGuard {
    open: Arc<AtomicUsize>,
    kind: StreamKind,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("boxoffice_sse_streams", "stream" => self.kind.as_str()).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_kind_id_and_one_data_line() {
        let frame = event("position", 7, &serde_json::json!({"position": 3}));
        assert_eq!(&frame[..], b"event: position\nid: 7\ndata: {\"position\":3}\n\n");
    }

    #[test]
    fn event_ids_are_decimal_numbers() {
        assert_eq!(parse_event_id(b"42"), Some(42));
        assert_eq!(parse_event_id(b" 42 "), Some(42));
        for garbage in [&b""[..], b"-1", b"4x", b"\xff", b"99999999999999999999999"] {
            assert_eq!(parse_event_id(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn streams_past_the_limit_are_shed_until_one_closes() {
        let limit = StreamLimit::new(2);
        let first = limit.open(StreamKind::Queue).unwrap();
        let _second = limit.open(StreamKind::Seats).unwrap();
        assert!(limit.open(StreamKind::Queue).is_none());
        drop(first);
        assert!(limit.open(StreamKind::Queue).is_some());
    }
}
