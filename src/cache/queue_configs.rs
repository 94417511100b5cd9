//! Each show's queue settings as Postgres last gave them: the join path asks here (for
//! `pow_bits` and `opens_at`), never Postgres, so joins go on while Postgres is down. The
//! sale re-reads every show's settings with the show list, reads a show this instance
//! hasn't seen yet once, on first use, and puts a show's new settings here at once.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::domain::ShowId;
use crate::domain::queue::QueueConfig;

#[derive(Default)]
pub struct QueueConfigs {
    entries: RwLock<HashMap<ShowId, QueueConfig>>,
}

impl QueueConfigs {
    pub fn get(&self, show: ShowId) -> Option<QueueConfig> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).get(&show).cloned()
    }

    pub fn put(&self, show: ShowId, config: QueueConfig) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).insert(show, config);
    }

    /// Every show's settings, as one read of Postgres gave them.
    pub fn set_all(&self, all: Vec<(ShowId, QueueConfig)>) {
        *self.entries.write().unwrap_or_else(PoisonError::into_inner) = all.into_iter().collect();
    }
}
