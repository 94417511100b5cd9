//! Which shows' fair openings this instance knows are drawn, and a signal to the event
//! streams of pre-queued fans when a draw is done; and each closed pre-queue's seed and
//! seqs, which sign every drawn fan's first token after the draw (half a million fans
//! polling at once must not each read them from Postgres).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;

use crate::domain::ShowId;

#[derive(Default)]
pub struct Openings {
    drawn: RwLock<HashMap<ShowId, watch::Sender<bool>>>,
    /// Shows whose pre-queue this instance has seen closed (and learned the hole of).
    closed: RwLock<std::collections::HashSet<ShowId>>,
    draws: RwLock<HashMap<ShowId, Arc<DrawnSeqs>>>,
}

/// A closed pre-queue's draw: the seed, and the seqs `base + 1 ..= base + size` it gives out.
/// None of it changes once the pre-queue is closed.
#[derive(Debug)]
pub struct DrawnSeqs {
    pub seed: Vec<u8>,
    pub base: i64,
    pub size: i64,
}

impl DrawnSeqs {
    pub fn contains(&self, seq: i64) -> bool {
        seq > self.base && seq <= self.base + self.size
    }
}

impl Openings {
    pub fn is_closed(&self, show: ShowId) -> bool {
        self.closed.read().unwrap_or_else(PoisonError::into_inner).contains(&show)
    }

    pub fn mark_closed(&self, show: ShowId) {
        self.closed.write().unwrap_or_else(PoisonError::into_inner).insert(show);
    }

    pub fn draw(&self, show: ShowId) -> Option<Arc<DrawnSeqs>> {
        self.draws.read().unwrap_or_else(PoisonError::into_inner).get(&show).cloned()
    }

    pub fn remember_draw(&self, show: ShowId, draw: Arc<DrawnSeqs>) {
        self.draws.write().unwrap_or_else(PoisonError::into_inner).insert(show, draw);
    }

    pub fn is_drawn(&self, show: ShowId) -> bool {
        self.drawn.read().unwrap_or_else(PoisonError::into_inner).get(&show).is_some_and(|drawn| *drawn.borrow())
    }

    pub fn mark_drawn(&self, show: ShowId) {
        self.sender(show).send_replace(true);
    }

    /// Turns true once the show's draw is done.
    pub fn watch(&self, show: ShowId) -> watch::Receiver<bool> {
        self.sender(show).subscribe()
    }

    fn sender(&self, show: ShowId) -> watch::Sender<bool> {
        if let Some(sender) = self.drawn.read().unwrap_or_else(PoisonError::into_inner).get(&show) {
            return sender.clone();
        }
        self.drawn
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(show)
            .or_insert_with(|| watch::channel(false).0)
            .clone()
    }
}
