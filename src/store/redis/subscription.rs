//! One connection per instance that listens to every streamed show's seat channel.
//!
//! In a cluster the channels are sharded (`SSUBSCRIBE`): redis-rs keeps a connection to each
//! shard that has a subscribed show, and subscribes again by itself after a reconnect or a
//! slot move. Messages arrive on the push sender given at connect time. Resubscribing can't
//! bring back what was published meanwhile; the subscriber says "disconnection" so the
//! caller resyncs.

use redis::aio::AsyncPushSender;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{ProtocolVersion, RedisResult};

use super::Redis;
use crate::config::RedisTarget;
use crate::domain::ShowId;
use crate::store::StoreError;

pub enum Subscription {
    Cluster(ClusterConnection),
    Single(ConnectionManager),
}

impl Redis {
    /// A RESP3 connection whose Pub/Sub messages go to `sink`.
    pub async fn seat_subscription(&self, sink: impl AsyncPushSender) -> Result<Subscription, StoreError> {
        let timeout = self.timeout;
        let connect = async {
            match &self.settings.target {
                RedisTarget::Cluster(seeds) => {
                    let client = super::access::cluster(&self.settings.access, seeds)
                        .use_protocol(ProtocolVersion::RESP3)
                        .push_sender(sink)
                        .connection_timeout(timeout)
                        .response_timeout(timeout)
                        .build()?;
                    Ok(Subscription::Cluster(client.get_async_connection().await?))
                }
                RedisTarget::Single(url) => {
                    let client = super::access::client(&self.settings.access, url, ProtocolVersion::RESP3)?;
                    let config = ConnectionManagerConfig::new()
                        .set_push_sender(sink)
                        .set_automatic_resubscription()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout));
                    Ok(Subscription::Single(client.get_connection_manager_with_config(config).await?))
                }
            }
        };
        self.bounded(connect).await
    }

    /// Starts listening to the show's seat channel.
    pub async fn listen_to_seats(&self, subscription: &mut Subscription, show: ShowId) -> Result<(), StoreError> {
        let channel = self.keys.show(show).seat_channel();
        self.bounded(async {
            match subscription {
                Subscription::Cluster(conn) => conn.ssubscribe(channel).await,
                Subscription::Single(conn) => conn.subscribe(channel).await,
            }
        })
        .await
    }

    /// A request to the show's shard over the subscription's own connection: a connection
    /// that died quietly is noticed (and reconnected, and subscribed again) now, not at the
    /// next message that never comes.
    pub async fn touch_subscription(&self, subscription: &mut Subscription, show: ShowId) -> Result<(), StoreError> {
        let key = self.keys.show(show).config();
        self.bounded(async {
            match subscription {
                Subscription::Cluster(conn) => redis::cmd("EXISTS").arg(key).query_async::<i64>(conn).await,
                Subscription::Single(conn) => redis::cmd("EXISTS").arg(key).query_async::<i64>(conn).await,
            }
        })
        .await
        .map(drop)
    }

    async fn bounded<T>(&self, call: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::Unavailable(error.to_string())),
            Err(_) => Err(StoreError::Unavailable(format!("redis did not answer within {:?}", self.timeout))),
        }
    }
}
