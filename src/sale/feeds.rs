//! What tells this instance of changes other instances made, for its event streams: on
//! Redis the cursor channel and the shows' seat channels; on the Postgres fallback the seat
//! notifications, and the cursors of streamed shows read a few times a second (one query
//! per show, however many clients). The workers keep the connections; the rules of what a
//! message means are here and in `push`.

use std::time::Duration;

use redis::aio::AsyncPushSender;
use sqlx::postgres::PgListener;

use super::{Feeds, Sale};
use crate::domain::ShowId;
use crate::store::postgres::SEATS_CHANNEL;
use crate::store::redis::subscription::Subscription;
use crate::store::{QueueStore, StoreError};

impl Sale {
    /// Where this instance hears of seat changes and admissions now.
    pub fn feeds(&self) -> Feeds {
        self.backend.feeds()
    }

    /// Reads every live show's cursor once: what a lost subscription may have missed.
    pub async fn resync_cursors(&self) {
        for show in self.shows() {
            match self.backend.cursor(show).await {
                Ok(cursor) => self.cursors.observe(show, cursor),
                Err(error) => tracing::debug!(%error, %show, "cannot resync the cursor"),
            }
        }
    }

    /// While Postgres serves: reads the cursor of every show this instance's clients follow.
    pub async fn read_watched_cursors(&self) {
        if self.feeds() != Feeds::Postgres {
            return;
        }
        for show in self.cursors.watched() {
            match self.backend.cursor(show).await {
                Ok(cursor) => self.cursors.observe(show, cursor),
                Err(error) => tracing::debug!(%error, %show, "cannot read the cursor for streams"),
            }
        }
    }

    /// `<show>:<cursor>` on the cursor channel.
    pub fn cursor_heard(&self, payload: &str) {
        if let Some((show, cursor)) = cursor_message(payload) {
            self.cursors.observe(show, cursor);
        }
    }

    /// A Pub/Sub client for the cursor channel (`attempt` picks the seed node), its channel
    /// and how long a call to it may take.
    pub fn cursor_channel(&self, attempt: usize) -> redis::RedisResult<(redis::Client, String, Duration)> {
        let client = self.redis.pubsub_client(attempt)?;
        Ok((client, self.redis.keys.cursor_channel(), self.redis.settings().timeout))
    }

    /// The Postgres fallback's notifications of seat changes (payload: the show id).
    pub async fn listen_to_seat_changes(&self) -> Result<PgListener, sqlx::Error> {
        self.db.listen(SEATS_CHANNEL).await
    }

    /// A subscription to the shows' seat channels, whose messages go to `sink`.
    pub async fn seat_subscription(&self, sink: impl AsyncPushSender) -> Result<Subscription, StoreError> {
        self.redis.seat_subscription(sink).await
    }

    /// Subscribes to the show's seat channel; returns the channel's name.
    pub async fn listen_to_seats(&self, subscription: &mut Subscription, show: ShowId) -> Result<String, StoreError> {
        self.redis.listen_to_seats(subscription, show).await?;
        Ok(self.redis.keys.show(show).seat_channel())
    }

    /// A light request over the subscription's connection to the show's node: a connection
    /// that died quietly fails it.
    pub async fn touch_seats(&self, subscription: &mut Subscription, show: ShowId) -> Result<(), StoreError> {
        self.redis.touch_subscription(subscription, show).await
    }

    /// Now, on the clock every instance agrees on.
    pub fn now_ms(&self) -> i64 {
        self.backend.now_ms()
    }
}

fn cursor_message(payload: &str) -> Option<(ShowId, i64)> {
    let (show, cursor) = payload.split_once(':')?;
    Some((show.parse().ok()?, cursor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursor_messages_are_show_colon_cursor() {
        assert_eq!(super::cursor_message("42:1000"), Some((crate::domain::ShowId(42), 1000)));
        assert_eq!(super::cursor_message("42"), None);
        assert_eq!(super::cursor_message("x:1"), None);
    }
}
