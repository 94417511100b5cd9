//! The shows this instance knows of, which its workers tick and drain: re-read from Postgres
//! every few seconds (a new show is picked up without a restart).

use std::sync::{PoisonError, RwLock};

use crate::domain::ShowId;
use crate::store::postgres::Database;

/// The shows the workers tick and drain.
#[derive(Default)]
pub struct ShowList(RwLock<Vec<ShowId>>);

impl ShowList {
    pub fn get(&self) -> Vec<ShowId> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A show this instance just created or loaded: ticked from now on, not from the next
    /// refresh (its first fans would wait for it).
    pub fn add(&self, show: ShowId) {
        let mut shows = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if !shows.contains(&show) {
            shows.push(show);
        }
    }

    fn set(&self, shows: Vec<ShowId>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = shows;
    }

    /// Re-reads the list from Postgres; on failure the last known list stays.
    pub async fn refresh(&self, db: &Database) {
        match db.show_ids().await {
            Ok(shows) => self.set(shows),
            Err(error) => tracing::warn!(%error, "cannot refresh the show list"),
        }
    }
}
