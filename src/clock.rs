//! Where "now" comes from for queue and hold rules.
//!
//! In production every script reads Redis server time (`TIME`), and the Postgres fallback
//! the Postgres server's clock, so app instances' clocks don't matter. Tests inject a manual clock instead and move it forward, so claim windows,
//! session expiry and admission rates are checked without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Scripts use Redis server time.
    #[default]
    RedisServer,
    /// Milliseconds since the Unix epoch, moved by hand.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at the current wall-clock time.
    pub fn manual() -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis())))
    }

    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }

    /// The `now` argument every script takes: 0 means "use Redis TIME".
    pub fn script_arg(&self) -> i64 {
        match self {
            Clock::RedisServer => 0,
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Now in ms since the epoch, as near to the stores' clock as this instance can tell
    /// without asking (the wall clock; hosts run NTP): for timers, not for rules.
    pub fn estimate_ms(&self) -> i64 {
        match self {
            Clock::RedisServer => chrono::Utc::now().timestamp_millis(),
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// The injected time, if any; `None` means "the store's own clock" (Redis TIME, or the
    /// Postgres server's clock when the deployment serves from Postgres).
    pub fn injected(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Clock::RedisServer => None,
            Clock::Manual(ms) => chrono::DateTime::from_timestamp_millis(ms.load(Ordering::SeqCst)),
        }
    }
}
