//! The write-behind backlog, as this instance's worker last measured it (for `/readyz`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The write-behind backlog across shows, as last measured.
#[derive(Default)]
pub struct Lag {
    backlog: AtomicU64,
    oldest_unwritten_ms: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LagSnapshot {
    pub backlog: u64,
    pub oldest_unwritten: Duration,
}

impl Lag {
    pub fn record(&self, backlog: u64, oldest_unwritten: Duration) {
        self.backlog.store(backlog, Ordering::Relaxed);
        self.oldest_unwritten_ms.store(oldest_unwritten.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LagSnapshot {
        LagSnapshot {
            backlog: self.backlog.load(Ordering::Relaxed),
            oldest_unwritten: Duration::from_millis(self.oldest_unwritten_ms.load(Ordering::Relaxed)),
        }
    }
}
