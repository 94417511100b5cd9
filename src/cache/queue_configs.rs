//! Each show's queue settings as Postgres last gave them, read again once they are a few
//! seconds old: the join path asks here (for `pow_bits`), not Postgres on every request.
//! While Postgres can't answer, the last known settings serve.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::ShowId;
use crate::domain::queue::QueueConfig;
use crate::store::StoreError;
use crate::store::postgres::Database;

/// How stale a show's settings may be on an instance other than the one that changed them.
pub const MAX_AGE: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct QueueConfigs {
    entries: RwLock<HashMap<ShowId, (QueueConfig, Instant)>>,
}

impl QueueConfigs {
    /// The show's settings, or `None` for a show that doesn't exist.
    pub async fn get(&self, db: &Database, show: ShowId) -> Result<Option<QueueConfig>, StoreError> {
        let known = self.entries.read().unwrap_or_else(PoisonError::into_inner).get(&show).cloned();
        if let Some((config, at)) = &known
            && at.elapsed() < MAX_AGE
        {
            return Ok(Some(config.clone()));
        }
        match db.queue_config(show).await {
            Ok(Some(config)) => {
                self.put(show, config.clone());
                Ok(Some(config))
            }
            Ok(None) => Ok(None),
            Err(error) => known.map(|(config, _)| Some(config)).ok_or(error),
        }
    }

    /// After this instance changed the show's settings.
    pub fn put(&self, show: ShowId, config: QueueConfig) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).insert(show, (config, Instant::now()));
    }
}
