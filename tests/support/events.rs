//! A client of the server-sent event streams.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::*;

/// One server-sent event as a client sees it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub id: Option<String>,
    pub data: Value,
}

/// A client of one event stream, reading events as they come.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>>,
    buffer: String,
    pub comments: usize,
}

impl TestApp {
    /// Opens an event stream with the token in the Authorization header: the stream, or the
    /// (JSON error) reply when it is refused.
    pub async fn events(&self, path: &str, token: &str) -> Result<EventStream, Reply> {
        self.open_events(self.client.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn open_events(&self, request: reqwest::RequestBuilder) -> Result<EventStream, Reply> {
        // A client without the overall timeout: a stream stays open as long as it likes.
        let response = request.timeout(Duration::from_secs(3600)).send().await.expect("the stream is answered");
        if response.status() != StatusCode::OK {
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            return Err(Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers });
        }
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
        assert_eq!(content_type, "text/event-stream");
        Ok(EventStream { body: Box::pin(response.bytes_stream()), buffer: String::new(), comments: 0 })
    }
}

impl EventStream {
    /// The next event within `limit`, or `None` (the stream ended, or nothing came).
    pub async fn next_within(&mut self, limit: Duration) -> Option<Event> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&frame) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
                _ => return None,
            }
        }
    }

    /// The next event of this kind within `limit`, skipping others.
    pub async fn next_of(&mut self, kind: &str, limit: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_within(left).await?;
            if event.kind == kind {
                return Some(event);
            }
        }
    }

    fn parse(&mut self, frame: &str) -> Option<Event> {
        let (mut kind, mut id, mut data) = (None, None, None);
        for line in frame.lines() {
            if line.starts_with(':') {
                self.comments += 1;
            } else if let Some(value) = line.strip_prefix("event: ") {
                kind = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).expect("data is one line of JSON"));
            }
        }
        Some(Event { kind: kind?, id, data: data? })
    }
}
