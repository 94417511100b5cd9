//! A show's shape on Redis: one slot, or lanes. A show asks for lanes in its config
//! (`lanes`); the tags, picked on masters of their own when the show is loaded before anyone
//! joined, are its layout, kept in its config hash on home (`lane_tags`). Each instance
//! reads a show's layout once and picks the queue store of that shape; a script that finds
//! the layout changed (`StoreError::LayoutChanged`) makes it read the layout again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Redis;
use super::lanes::LanedQueue;
use super::one_slot::OneSlotQueue;
use crate::domain::ShowId;
use crate::store::{QueueStore, StoreError};

/// The queue store of each show this instance knows: the one for every show on one slot,
/// or a laned show's own.
pub(super) struct Layouts {
    redis: Arc<Redis>,
    one_slot: Arc<OneSlotQueue>,
    shows: RwLock<HashMap<ShowId, Arc<dyn QueueStore>>>,
}

impl Layouts {
    /// Must be called inside the tokio runtime that should run the batched calls.
    pub(super) fn new(redis: Arc<Redis>) -> Self {
        Self { one_slot: Arc::new(OneSlotQueue::new(redis.clone())), redis, shows: RwLock::default() }
    }

    /// The store of the show's shape, as last read from its config hash.
    pub(super) async fn of(&self, show: ShowId) -> Result<Arc<dyn QueueStore>, StoreError> {
        if let Some(known) = self.shows.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(known.clone());
        }
        let config = self.redis.keys.show(show).config();
        let tags: Option<String> = self.redis.query(redis::Cmd::hget(config, "lane_tags")).await?;
        let store: Arc<dyn QueueStore> = match tags {
            Some(tags) => Arc::new(LanedQueue::new(self.redis.clone(), show, &tags)),
            None => self.one_slot.clone(),
        };
        self.shows.write().unwrap_or_else(|e| e.into_inner()).insert(show, store.clone());
        Ok(store)
    }

    /// Forgets what it knew of the show's layout (a script said it changed).
    pub(super) fn forget(&self, show: ShowId) {
        self.shows.write().unwrap_or_else(|e| e.into_inner()).remove(&show);
    }
}
