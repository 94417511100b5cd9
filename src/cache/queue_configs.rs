//! Each show's queue settings as Postgres last gave them: the join path asks here (for
//! `pow_bits` and `opens_at`), never Postgres, so joins go on while Postgres is down. The
//! workers re-read every show's settings with the show list; a show this instance hasn't
//! seen yet is read once, on first use; the instance that changes a show's settings puts
//! them here at once.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::domain::ShowId;
use crate::domain::queue::QueueConfig;
use crate::store::StoreError;
use crate::store::postgres::Database;

#[derive(Default)]
pub struct QueueConfigs {
    entries: RwLock<HashMap<ShowId, QueueConfig>>,
}

impl QueueConfigs {
    /// The show's settings, or `None` for a show that doesn't exist.
    pub async fn get(&self, db: &Database, show: ShowId) -> Result<Option<QueueConfig>, StoreError> {
        if let Some(config) = self.entries.read().unwrap_or_else(PoisonError::into_inner).get(&show) {
            return Ok(Some(config.clone()));
        }
        let config = db.queue_config(show).await?;
        if let Some(config) = &config {
            self.put(show, config.clone());
        }
        Ok(config)
    }

    pub fn put(&self, show: ShowId, config: QueueConfig) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).insert(show, config);
    }

    /// Re-reads every show's settings; on failure the known ones stay.
    pub async fn refresh(&self, db: &Database) {
        match db.queue_configs().await {
            Ok(all) => *self.entries.write().unwrap_or_else(PoisonError::into_inner) = all.into_iter().collect(),
            Err(error) => tracing::debug!(%error, "cannot refresh the queue settings"),
        }
    }
}
